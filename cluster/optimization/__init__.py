"""Optimization jobs at the edge: tables, repository, data sources, results rendering."""
