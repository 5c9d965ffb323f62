"""Strategy instances and their versioned, guarded parameters (issue 12)."""
