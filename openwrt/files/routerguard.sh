#!/bin/sh
# /usr/bin/routerguard on OpenWrt. The pure-Python libraries with no OpenWrt
# package (waitress; pysnmp and pyasn1 from routerguard-snmp) live in a
# directory of their own so that they never clash with python3-* packages;
# put it first on the module path, for routerguard only. -P: never import
# from the current directory.
PYTHONPATH="/usr/lib/routerguard/vendor${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec /usr/bin/python3 -P -m routerguard "$@"
