"""Qt item models over plain data (pandas frames, role mappings)."""
