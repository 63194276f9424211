"""Data files shipped inside the package (category lists of the leak guard)."""
