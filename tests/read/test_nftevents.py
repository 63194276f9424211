"""nftables' change events (read/nftevents.py): which transactions emptied our table.

Pure tests feed datagrams built here; the lab test listens to the kernel in
a namespace of its own while nft changes tables there.
"""

import os
import struct
import subprocess
import sys
import uuid

import pytest

from routerguard.read.nftevents import NFT_MSG_NEWGEN, TableWatch

NEWTABLE, DELTABLE, NEWCHAIN, DELCHAIN, NEWRULE, DELRULE, NEWSETELEM, DELSETELEM = 0, 2, 3, 5, 6, 8, 12, 14
INET, IP = 1, 2


def message(kind, family=INET, table="routerguard"):
    payload = struct.pack("=BBH", family, 0, 0)
    if table is not None:
        name = table.encode() + b"\0"
        attr = struct.pack("=HH", 4 + len(name), 1) + name
        payload += attr + b"\0" * (-len(attr) % 4)
    return struct.pack("=IHHII", 16 + len(payload), 10 << 8 | kind, 0, 0, 0) + payload


def gen():
    return message(NFT_MSG_NEWGEN, table=None)


def test_a_transaction_that_only_deletes_from_our_table_empties_it():
    watch = TableWatch("inet", "routerguard")
    assert watch.feed(message(DELRULE) + message(DELCHAIN) + message(DELTABLE) + gen())
    assert watch.feed(message(DELRULE) + gen())  # `nft flush table`: the rules go, the table stays


def test_our_own_changes_and_other_tables_and_set_elements_do_not():
    watch = TableWatch("inet", "routerguard")
    assert not watch.feed(message(DELRULE) + message(NEWRULE) + gen())  # an update: flush and re-add
    assert not watch.feed(message(DELTABLE) + message(NEWTABLE) + message(NEWCHAIN) + gen())  # made afresh
    assert not watch.feed(message(DELTABLE, table="fw4") + message(DELRULE, table="fw4") + gen())  # fw4 restart
    assert not watch.feed(message(DELTABLE, family=IP) + gen())  # `ip routerguard` is not ours
    assert not watch.feed(message(DELSETELEM) + gen())  # a set element timed out
    assert not watch.feed(message(NEWSETELEM) + gen())  # dnsmasq filled a set


def test_a_transaction_spread_over_datagrams_is_judged_at_its_end():
    watch = TableWatch("inet", "routerguard")
    assert not watch.feed(message(DELRULE, table="fw4") + message(DELTABLE))
    assert watch.feed(message(DELTABLE, table="fw4") + gen())
    assert not watch.feed(message(DELTABLE))
    watch.reset()  # events were lost: the caller looks at the table itself
    assert not watch.feed(gen())


def test_a_malformed_datagram_is_refused():
    with pytest.raises(ValueError):
        TableWatch("inet", "routerguard").feed(message(DELTABLE)[:-3] + b"\x50\0\0\0")


LISTEN = """
import json, select, sys
from routerguard.read.nftevents import TableWatch, open_events
sock, watch = open_events(), TableWatch("inet", "routerguard")
print("ready", flush=True)
results = []
for line in sys.stdin:
    sock.settimeout(1.0)
    emptied = False
    while True:
        try:
            emptied |= watch.feed(sock.recv(65536))
        except TimeoutError:
            break
        sock.settimeout(0.2)
    results.append(emptied)
    print(json.dumps(emptied), flush=True)
"""

CHANGES = [
    ("add table inet routerguard\nadd chain inet routerguard forward\nadd rule inet routerguard forward accept", False),
    ("flush table inet routerguard\nadd rule inet routerguard forward accept", False),
    ("add table inet fw4\ndelete table inet fw4", False),
    ("flush table inet routerguard", True),
    ("add rule inet routerguard forward accept", False),
    ("flush ruleset", True),
]


@pytest.mark.lab
def test_the_kernels_events_tell_a_flush_from_our_own_changes():
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace, nftables' multicast group)")
    name = f"rgev{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    listener = None
    try:
        listener = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", LISTEN], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"
        for script, emptied in CHANGES:
            subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=script, text=True, check=True)
            listener.stdin.write("next\n")
            listener.stdin.flush()
            assert listener.stdout.readline().strip() == str(emptied).lower(), script
        listener.stdin.close()
        listener.wait(10)
    finally:
        if listener and listener.poll() is None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", name], check=False)
