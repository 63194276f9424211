"""MIB modules that ship with routerguard, found through the package (importlib.resources)."""
