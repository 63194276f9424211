"""Lab: a virtual router in network namespaces, for tests and for newcomers."""
