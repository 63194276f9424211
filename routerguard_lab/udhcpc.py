"""The clients' DHCP client: busybox udhcpc, so dnsmasq writes real leases with hostnames.

udhcpc calls a script on each event; ours applies the lease with ``ip``
and then writes the address to a file the lab waits for.
"""

from __future__ import annotations

import os
import stat
import subprocess

from .netns import Namespace

SCRIPT = """#!/bin/sh
# udhcpc event script of the routerguard lab: apply the lease, then tell the lab.
case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ;;
bound|renew)
  [ "$1" = bound ] && ip -4 addr flush dev "$interface"
  ip addr replace "$ip/$mask" dev "$interface"
  ip route replace default via "${router%% *}" dev "$interface"
  echo "$ip" > "$RG_LAB_BOUND.tmp" && mv "$RG_LAB_BOUND.tmp" "$RG_LAB_BOUND"
  ;;
esac
"""


def write_script(folder: str) -> str:
    path = os.path.join(folder, "udhcpc.script")
    with open(path, "w") as f:
        f.write(SCRIPT)
    os.chmod(path, stat.S_IRWXU)
    return path


def start(ns: Namespace, ifname: str, hostname: str, script: str, bound_file: str,
          log_file: str) -> subprocess.Popen:
    """Run udhcpc in the foreground for the life of the lab (it renews like a real client).

    ``bound_file`` receives the leased address once the client has applied it.
    """
    if os.path.exists(bound_file):
        os.unlink(bound_file)
    argv = ["busybox", "udhcpc", "-f", "-i", ifname, "-s", script,
            "-x", f"hostname:{hostname}", "-T", "1", "-t", "10"]
    with open(log_file, "ab") as log:
        return ns.popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        env={**os.environ, "RG_LAB_BOUND": bound_file})
