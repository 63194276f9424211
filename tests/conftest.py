"""Shared pytest fixtures. Each owner keeps a clearly named block."""

# ---- lab: the virtual router in network namespaces (routerguard/lab) ----
# `lab` (two clients, fresh per test) and `lab_factory(clients=N)`.
from routerguard.lab.fixtures import lab, lab_factory  # noqa: F401
# ---- end lab ----
