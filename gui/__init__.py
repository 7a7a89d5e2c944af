"""Qt front end: widgets, item models and workers. It computes no statistics itself."""
