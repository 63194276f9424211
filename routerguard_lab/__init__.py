"""Lab: a virtual router in network namespaces, for tests and for newcomers.

A package of its own beside routerguard (the product), free of pytest: the
tests' fixtures are in tests/conftest.py, and the router packages leave it out.
One module per job: ``plan`` (names and addresses), ``netns`` (namespace
primitives and the stale sweep), ``topology`` (``Lab``: build and teardown),
``hosts`` (``Router``, ``Client``, ``Internet``), ``dnsmasq_servers`` and
``udhcpc`` (real DHCP and DNS), ``lab_daemon`` (routerguard itself in the
lab's router), ``httpd`` (the internet's web server), ``traffic`` (mixed
demo traffic), ``relay`` (a host port into a namespace), ``demo``
(``routerguard lab``), ``wait`` (polling with a deadline), ``wallclock``
(the daemon's wall clock, moved by a test: libfaketime).
"""
