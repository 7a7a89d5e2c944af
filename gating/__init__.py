"""Flow-cytometry gating: a plain library (no Qt), usable from scripts and notebooks."""
