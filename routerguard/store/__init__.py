"""Store: usage and secrets on disk (SQLite in data_dir)."""
