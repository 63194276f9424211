"""Values a test sets, served by a real snmpd through its `pass_persist` protocol.

A real interface cannot move 2^64 bytes, so to see the uplink's counters
wrap, snmpd hands a few subtrees (the interface's ifHCInOctets and
ifHCOutOctets, sysUpTime) to this module while it answers everything else
(ifName, ifDescr, ...) itself. The test writes the values with
`PassedValues.write`; every request reads the file again, so a change is
seen at the next request. snmpd asks once per variable, so one GET may see
values from both sides of a write: move counters back only while the agent
is stopped.

snmpd runs `python -m routerguard_lab.snmppass FILE SUBTREE` once per
subtree and speaks to it over stdin/stdout (snmpd.conf(5), pass_persist).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Mapping, Sequence, TextIO

PRIORITY = 1  # ahead of snmpd's own registration of the same OIDs (sysUpTime.0 is its own)
NONE = "NONE"  # pass_persist: no such instance, or nothing after it in the subtree

Oid = tuple[int, ...]


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.strip().strip(".").split("."))


class PassedValues:
    """A JSON file of {oid: [type, value]} (types as pass_persist names them: counter64, timeticks, ...)."""

    def __init__(self, folder: str, subtrees: Sequence[str]) -> None:
        self.path = os.path.join(folder, "passed.json")
        self.subtrees = list(subtrees)

    def config(self) -> list[str]:
        """The snmpd.conf lines that hand `subtrees` to this module."""
        command = f"{sys.executable} -m routerguard_lab.snmppass {self.path}"
        return [f"pass_persist -p {PRIORITY} .{subtree} {command} {subtree}" for subtree in self.subtrees]

    def write(self, values: Mapping[str, tuple[str, int]]) -> None:
        """Serve `values` from now on; replaced with a rename, so no request reads half a file."""
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".passed-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({oid: list(typed) for oid, typed in values.items()}, out)
        os.replace(temporary, self.path)


def answer(values: Mapping[str, Sequence[object]], subtree: Oid, command: str, oid: Oid) -> list[str]:
    """The reply lines to a get or getnext for `oid`, from the values under `subtree`."""
    served = sorted(
        (key, kind, value) for key, (kind, value) in ((parse_oid(text), typed) for text, typed in values.items())
        if key[:len(subtree)] == subtree
    )
    if command == "get":
        found = [entry for entry in served if entry[0] == oid]
    else:
        found = [entry for entry in served if entry[0] > oid]
    if not found:
        return [NONE]
    key, kind, value = found[0]
    return ["." + ".".join(map(str, key)), str(kind), str(value)]


def serve(path: str, subtree: Oid, requests: TextIO, replies: TextIO) -> None:
    """Answer snmpd until it closes the pipe."""
    while command := requests.readline():
        command = command.strip()
        if command == "PING":
            lines = ["PONG"]
        elif command in ("get", "getnext"):
            with open(path, encoding="utf-8") as source:
                lines = answer(json.load(source), subtree, command, parse_oid(requests.readline()))
        elif command == "set":
            requests.readline(), requests.readline()  # the OID, then the type and value
            lines = ["not-writable"]
        else:
            continue
        replies.write("".join(line + "\n" for line in lines))
        replies.flush()


def main(argv: Sequence[str] | None = None) -> None:
    path, subtree = argv if argv is not None else sys.argv[1:]
    serve(path, parse_oid(subtree), sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
