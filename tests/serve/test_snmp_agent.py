"""The SNMP agent as a manager sees it: net-snmp's snmpwalk (a client no one here wrote) reads every row.

The MIB is checked by three independent SMI parsers: net-snmp's
(snmptranslate), pysmi's strict SMIv2 parser and libsmi's smilint. The IETF
base modules they need (SNMPv2-SMI, -TC, -CONF; RFC 2578-2580 text) are
vendored in tests/data/mibs/, because Debian ships none (see its README).
"""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib.resources import files

import pytest

from routerguard.config.model import Agent
from routerguard.core import Core
from routerguard.serve.snmp_agent import DEVICE_COUNT, DEVICE_ENTRY, PLAN, ROOT, STATES, Objects, SnmpAgent, start_agent
from routerguard.service import Service, parse_time

BASE_MIBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "mibs")
OUR_MIBS = str(files("routerguard.mibs"))
MIB_PATH = f"{BASE_MIBS}:{OUR_MIBS}"
MACS = [f"02:00:00:00:00:{n:02x}" for n in (0x0a, 0x0b, 0x0c, 0x0d)]
V3 = {"v3_user": "fleet", "v3_auth_key": "auth-secret-1", "v3_priv_key": "priv-secret-1"}

CONFIG = """config device
\toption mac '{a}'
\toption name 'Zhang phone 手机'
\toption cap '1GB'
\toption period 'daily'
"""


@pytest.fixture
def service(fleet_config):
    core = Core(str(fleet_config(CONFIG.format(a=MACS[0]))))
    for n, mac in enumerate(MACS, start=1):
        core.ledger.add(mac, n * 1_000, n * 3_000_000_000, core.now())  # past 2**32: only Counter64 holds it
    yield Service(core)
    core.db.close()


@pytest.fixture
def agent(service):
    running = SnmpAgent(service, Agent(enabled=True, listen=("127.0.0.1", 0), community="fleet-ro", **V3))
    running.start()
    yield running
    running.stop()


def snmp(tool: str, agent: SnmpAgent, *args: str, oids: tuple[str, ...] = ("routerguardMIB",),
         patience: str = "2") -> subprocess.CompletedProcess:
    """Run a net-snmp tool against the agent; `patience` is its timeout in seconds (a refusal is silence)."""
    host, port = agent.address
    argv = [tool, "-M", MIB_PATH, "-m", "ROUTERGUARD-MIB", "-OQUs", "-t", patience, "-r", "1",
            *args, f"udp:{host}:{port}", *oids]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def walked(output: str) -> dict[str, str]:
    """{'rgDeviceUpOctets.1': '1000', ...} from `snmpwalk -OQUs` lines."""
    pairs = (line.split(" = ", 1) for line in output.splitlines() if " = " in line)
    return {name: value.strip('"') for name, value in pairs if not value.startswith("No more variables")}


def rows(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """Rows of rgDeviceTable keyed by MAC (net-snmp shows 02:00:... as 2:0:...)."""
    by_index: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        column, _, index = name.partition(".")
        if column.startswith("rgDevice") and column != "rgDeviceCount":
            by_index.setdefault(index, {})[column] = value
    return {":".join(f"{int(p, 16):02x}" for p in row["rgDeviceMac"].split(":")): row for row in by_index.values()}


def check_every_row(values: dict[str, str], service: Service) -> None:
    table = rows(values)
    devices = {d["mac"]: d for d in service.devices()}
    assert set(table) == set(devices) == set(MACS)
    for mac, row in table.items():
        device = devices[mac]
        assert row["rgDeviceName"] == (device["name"] or "")
        assert int(row["rgDeviceUpOctets"]) == device["usage"]["up_bytes"]
        assert int(row["rgDeviceDownOctets"]) == device["usage"]["down_bytes"]
        assert int(row["rgDeviceTotalOctets"]) == device["usage"]["total_bytes"]
        assert int(row["rgDeviceLifetimeOctets"]) == device["lifetime_bytes"]
        assert row["rgDeviceState"] == device["state"]
    assert values["rgDeviceCount.0"] == str(len(devices))
    assert int(values["rgPlanQuota.0"]) == 20_000_000_000
    assert int(values["rgPlanUsedOctets.0"]) == service.plan()["used_bytes"]
    end = datetime.fromtimestamp(parse_time(service.plan()["period_end"], "end"), timezone.utc)
    assert values["rgPlanPeriodEnd.0"] == f"{end.year}-{end.month}-{end.day},{end.hour}:{end.minute}:{end.second}.0,+0:0"


def test_snmpwalk_v2c_reads_every_device_row(agent, service):
    result = snmp("snmpwalk", agent, "-v2c", "-c", "fleet-ro")
    assert result.returncode == 0, result.stderr
    check_every_row(walked(result.stdout), service)
    assert rows(walked(result.stdout))[MACS[0]]["rgDeviceName"] == "Zhang phone 手机"


def test_snmpbulkwalk_v3_auth_priv_reads_every_device_row(agent, service):
    result = snmp("snmpbulkwalk", agent, "-v3", "-l", "authPriv", "-u", "fleet", "-a", "SHA", "-A", V3["v3_auth_key"],
                  "-x", "AES", "-X", V3["v3_priv_key"])
    assert result.returncode == 0, result.stderr
    check_every_row(walked(result.stdout), service)


def test_wrong_community_and_wrong_v3_key_get_nothing(agent):
    assert snmp("snmpwalk", agent, "-v2c", "-c", "public", patience="0.3").stdout == ""
    wrong = snmp("snmpwalk", agent, "-v3", "-l", "authPriv", "-u", "fleet", "-a", "SHA", "-A", "not-the-key",
                 "-x", "AES", "-X", V3["v3_priv_key"], patience="0.3")
    assert wrong.returncode != 0 and "rgDevice" not in wrong.stdout


def test_get_of_a_missing_row_is_no_such_instance(agent):
    result = snmp("snmpget", agent, "-v2c", "-c", "fleet-ro", oids=(".".join(map(str, DEVICE_ENTRY + (4, 999))),))
    assert "No Such Instance" in result.stdout


def test_managers_discover_the_agent_by_its_system_group(agent):
    sys_descr, sys_object_id = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0"  # SNMPv2-MIB, not vendored: numeric
    result = snmp("snmpget", agent, "-v2c", "-c", "fleet-ro", "-On", oids=(sys_descr, sys_object_id))
    values = walked(result.stdout)
    assert values["." + sys_object_id] == ".1.3.6.1.4.1.32473"
    assert values["." + sys_descr].startswith("routerguard ")


def test_agent_refuses_to_start_without_any_credential(service):
    with pytest.raises(ValueError, match="neither a community nor a v3_user"):
        SnmpAgent(service, Agent(enabled=True, listen=("127.0.0.1", 0), community=None))
    with pytest.raises(ValueError, match="v3_auth_key is too short"):
        SnmpAgent(service, Agent(enabled=True, community=None, v3_user="u", v3_auth_key="short"))


def test_a_busy_port_is_a_clear_error(agent, service):
    with pytest.raises(OSError, match=f"cannot listen on udp 127.0.0.1:{agent.address[1]}"):
        SnmpAgent(service, Agent(enabled=True, listen=agent.address, community="x")).start()


def test_start_agent_serves_only_when_enabled_and_never_stops_the_daemon(service, caplog):
    assert start_agent(service, Agent(enabled=False)) is None
    agent = start_agent(service, Agent(enabled=True, listen=("127.0.0.1", 0), community="fleet-ro"))
    try:
        assert agent is not None and snmp("snmpget", agent, "-v2c", "-c", "fleet-ro", oids=("rgDeviceCount.0",)).stdout
        assert start_agent(service, Agent(enabled=True, listen=agent.address, community="x")) is None
        assert "cannot listen on udp" in caplog.text and "the SNMP agent stays off" in caplog.text
    finally:
        agent.stop()


def test_a_disabled_agent_never_loads_pysnmp():
    code = ("import sys; from routerguard.config.model import Agent; from routerguard.serve.snmp_agent import start_agent; "
            "assert start_agent(None, Agent()) is None; assert not [m for m in sys.modules if m.startswith('pysnmp')]")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_indexes_stay_put_when_a_device_appears(service):
    now = [0.0]
    objects = Objects(service, clock=lambda: now[0])
    objects.refresh()
    first = dict(objects.index)
    service.core.ledger.add("02:00:00:00:00:01", 1, 1, service.core.now())  # sorts before every other MAC
    objects.refresh()
    assert "02:00:00:00:00:01" not in objects.index  # within CACHE_SECONDS: the cached burst
    now[0] += 5
    objects.refresh()
    assert {mac: objects.index[mac] for mac in first} == first
    assert objects.index["02:00:00:00:00:01"] == len(first) + 1


def test_net_snmp_parses_the_mib():
    result = subprocess.run(["snmptranslate", "-M", MIB_PATH, "-m", "ROUTERGUARD-MIB", "-Tp"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "rgDeviceEntry" in result.stdout and "Index: rgDeviceIndex" in result.stdout


def test_pysmi_compiles_the_mib_and_its_oids_are_the_agents():
    from pysmi.codegen import JsonCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiV2Parser
    from pysmi.reader import FileReader
    from pysmi.writer import CallbackWriter

    compiled: dict[str, str] = {}
    compiler = MibCompiler(SmiV2Parser(), JsonCodeGen(), CallbackWriter(lambda name, text, _: compiled.update({name: text})))
    compiler.add_sources(FileReader(BASE_MIBS), FileReader(OUR_MIBS))
    status = compiler.compile("ROUTERGUARD-MIB", rebuild=True, genTexts=True)
    assert status["ROUTERGUARD-MIB"] == "compiled", status
    mib = json.loads(compiled["ROUTERGUARD-MIB"])
    oid = lambda name: tuple(int(n) for n in mib[name]["oid"].split("."))  # noqa: E731
    assert oid("routerguardMIB") == ROOT
    assert oid("rgPlanQuota") == PLAN + (1,) and oid("rgDeviceCount") == DEVICE_COUNT
    assert oid("rgDeviceEntry") == DEVICE_ENTRY and oid("rgDeviceLifetimeOctets") == DEVICE_ENTRY + (13,)
    assert {name for name, _ in mib["RgState"]["type"]["constraints"]["enumeration"].items()} == set(STATES)


@pytest.mark.skipif(shutil.which("smilint") is None, reason="smilint (Debian: smitools, libsmi2-common) not installed")
def test_smilint_finds_nothing_to_say():
    result = subprocess.run(["smilint", "-l", "6", "-s", "-m", os.path.join(OUR_MIBS, "ROUTERGUARD-MIB.txt")],
                            capture_output=True, text=True, env={**os.environ, "SMIPATH": BASE_MIBS}, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == ""
