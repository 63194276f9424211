"""Lab: a virtual router in network namespaces, for tests and for newcomers.

The router lab, one module per job: ``plan`` (names and addresses),
``netns`` (namespace primitives and the stale sweep), ``topology``
(``Lab``: build and teardown), ``hosts`` (``Router``, ``Client``,
``Internet``), ``dnsmasq`` and ``udhcpc`` (real DHCP and DNS), ``httpd``
(the internet's web server), ``traffic`` (mixed demo traffic), ``relay``
(a host port into a namespace), ``demo`` (``routerguard lab``),
``fixtures`` (pytest), ``wait`` (polling with a deadline), ``wallclock``
(the daemon's wall clock, moved by a test: libfaketime).
"""
