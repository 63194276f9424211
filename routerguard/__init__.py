"""routerguard: a data-cap guard for travel routers on a metered uplink."""

__version__ = "0.1.0"
