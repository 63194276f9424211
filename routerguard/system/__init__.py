"""System: what the host offers (kernel features, tools) and how to fix what is missing."""
