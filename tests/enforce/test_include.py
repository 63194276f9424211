"""The fw4 include (enforce/include.py): loads over nothing and over a live table alike."""

from routerguard.enforce import include
from routerguard.enforce.ruleset import Device, Guard, Quota, Ruleset

RULES = Ruleset("br-lan", ("wan0",), (Quota("q_dev_1", 5_000_000, 5_000_000),),
                (Device("02:00:00:00:00:0a", 1, Guard(cuts=("q_dev_1",), blocked=True)),), plan=None)


def test_every_map_and_set_is_declared_before_it_is_flushed_and_nothing_is_deleted():
    lines = include.script(RULES).splitlines()
    assert lines[0].startswith("# ")
    first_flush = next(i for i, line in enumerate(lines) if line.startswith("flush "))
    for i, line in enumerate(lines):
        if line.startswith(("flush map", "flush set")):
            name = line.split()[-1]
            assert any(f" {name} " in lines[j] and lines[j].startswith(("add map", "add set")) for j in range(first_flush))
    assert not any(line.startswith(("delete", "add table inet routerguard\ndelete")) for line in lines)
    assert "add quota inet routerguard q_dev_1 { over 5000000 bytes used 5000000 bytes; }" in lines
