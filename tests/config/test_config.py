"""The typed config: the contract's example, errors that point at the problem, safe edits."""

import ast
import os
import shutil
from datetime import datetime

import pytest

import routerguard.config
from routerguard.config.file import ConfigFile, device_section, format_size_option, write_cap
from routerguard.config.model import Cap, ConfigError, Period, load_config, parse_listen, parse_mac

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "interface_example.uci")

MINIMAL = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '192.168.8.1:8080'
\toption data_dir '{data}'
"""


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "routerguard"
    path.write_text(MINIMAL.format(data=tmp_path / "data"))
    return path


def test_the_contract_example_loads_with_every_value():
    config = load_config(EXAMPLE)
    assert config.main.lan_if == "br-lan" and config.main.wan_if == ("wwan0",)
    assert config.main.listen == (("192.168.8.1", 8080),)
    assert config.main.poll_interval == 2 and config.main.commit_interval == 60
    assert config.snmp.if_name == "wwan0" and config.snmp.port == 161
    assert config.plan.quota == 20 * 10**9 and config.plan.period.kind == "monthly"
    assert config.default_cap == Cap(500 * 10**6, Period("daily"), "throttle", 256)
    assert config.groups["zhang"].cap.bytes == 5 * 10**9
    device = config.devices["02:00:00:00:00:0a"]
    assert (device.name, device.group, device.exempt) == ("Zhang phone", "zhang", False)
    assert device.cap == Cap(10**9, Period("daily"), "block", None)
    assert config.uplinks[0].ifname == "wlan-sta" and not config.uplinks[0].metered
    assert config.categories[0].domains == ("swcdn.apple.com",)
    assert config.saver_block == ("os_updates",)
    assert config.notify.thresholds == (80, 95)
    notify = config.notify
    assert (notify.language, notify.telegram_chat, notify.telegram_api, notify.bark) == (
        "zh-CN", "-1001234567890", "https://api.telegram.org", "https://api.day.app")
    assert notify.dingtalk_secret and notify.feishu_secret and notify.wecom and notify.bark_key
    assert config.agent.enabled and config.agent.listen == ("127.0.0.1", 1161)


def test_esim_days_period(config_path):
    config_path.write_text(config_path.read_text() + "\nconfig plan 'plan'\n\toption quota '10GiB'\n\toption period 'days'\n"
                           "\toption start '2026-11-20T09:00'\n\toption days '30'\n")
    plan = load_config(str(config_path)).plan
    assert plan.quota == 10 * 2**30
    assert plan.period == Period("days", 1, 0, datetime(2026, 11, 20, 9, 0), 30)


@pytest.mark.parametrize("extra,section,option,hint", [
    ("config device\n\toption mac 'nope'\n", "@device[0]", "mac", "02:00:00:00:00:0a"),
    ("config device\n\toption mac '02:00:00:00:00:01'\n\toption cap '5XB'\n", "@device[0]", "cap", "valid units"),
    ("config device\n\toption mac '02:00:00:00:00:01'\n\toption cap '1GB'\n\toption period 'hourly'\n", "@device[0]", "period", "daily, weekly, monthly, days, none"),
    ("config device\n\toption mac '02:00:00:00:00:01'\n\toption cap '1GB'\n\toption action 'throttle'\n", "@device[0]", "action", "needs option throttle"),
    ("config device\n\toption mac '02:00:00:00:00:01'\n\toption group 'ghost'\n", "@device[0]", "group", "no group with id 'ghost'"),
    ("config device\n\toption mac '02:00:00:00:00:01'\n\toption capp '1GB'\n", "@device[0]", "capp", "valid options here"),
    ("config plan 'plan'\n\toption quota '1GB'\n\toption period 'days'\n", "plan", "start", "required"),
    ("config plan 'plan'\n\toption quota '1GB'\n\toption reset_day '32'\n", "plan", "reset_day", "1..31"),
    ("config snmp 'wan'\n\toption port '70000'\n\toption if_name 'x'\n", "wan", "port", "1..65535"),
    ("config widget 'w'\n", "w", None, "unknown section type"),
    ("config notify 'n'\n\toption wecom 'qyapi.weixin.qq.com/send'\n", "n", "wecom", "http:// or https://"),
    ("config notify 'n'\n\toption telegram_token '123456789:AAE-test_token'\n", "n", "telegram_token", "needs `option telegram_chat`"),
    ("config notify 'n'\n" + "".join(f"\tlist threshold '{t}'\n" for t in range(10, 70, 10)), "n", "threshold", "at most 5"),
    ("config notify 'n'\n\toption language 'fr'\n", "n", "language", "en, zh-CN"),
])
def test_a_bad_option_is_named_with_file_line_section_and_what_is_valid(config_path, extra, section, option, hint):
    config_path.write_text(config_path.read_text() + "\n" + extra)
    with pytest.raises(ConfigError) as info:
        load_config(str(config_path))
    problem = info.value.problems[0]
    assert (problem.path, problem.section, problem.option) == (str(config_path), section, option)
    assert hint in problem.message
    assert str(config_path) in str(info.value) and f"section '{section}'" in str(info.value)
    assert problem.line > 5


def test_every_problem_is_reported_at_once(config_path):
    config_path.write_text(config_path.read_text() + "\nconfig device\n\toption mac 'x'\n\nconfig device\n"
                           "\toption mac '02:00:00:00:00:01'\n\toption cap 'lots'\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(config_path))
    assert [p.option for p in info.value.problems] == ["mac", "cap"]


MISTAKES = """config snmp 'wan'
\toption port '70000'
\toption if_name 'wwan0'

config snmp 'again'
\toption if_name 'wwan0'

config plan 'plan'
\toption quota '20GB'
\toption period 'fortnightly'
\toption reset_day '40'
\toption action 'throttle'

config device
\toption mac 'nope'
\toption cap '5XB'
\toption reset_hour '24'
\toption group 'ghost'
\toption exempt 'maybe'
\tlist block 'gambling_sites'

config device
\toption mac '02:00:00:00:00:01'
\toption cap '2000TB'
\toption throttle '20gbit'
\toption period 'days'
"""

# (line in MISTAKES, section, option, a piece of the message); `config routerguard 'main'` is missing too
EVERY_MISTAKE = [
    (1, "main", None, "missing `config routerguard 'main'`"),
    (2, "wan", "port", "1..65535"),
    (5, "again", None, "a second `config snmp` section"),
    (10, "plan", "period", "daily, weekly, monthly, days, none"),
    (11, "plan", "reset_day", "1..31"),
    (12, "plan", "action", "needs option throttle"),
    (15, "@device[0]", "mac", "02:00:00:00:00:0a"),
    (16, "@device[0]", "cap", "valid units"),
    (17, "@device[0]", "reset_hour", "0..23"),
    (18, "@device[0]", "group", "no group with id 'ghost'"),
    (19, "@device[0]", "exempt", "write '1' or '0'"),
    (20, "@device[0]", "block", "no category 'gambling_sites'"),
    (24, "@device[1]", "cap", "0..1000000000000000 bytes"),
    (25, "@device[1]", "throttle", "1..10000000 kbit/s"),
    (22, "@device[1]", "start", "required with period 'days'"),
    (22, "@device[1]", "days", "required with period 'days'"),
]


def test_every_mistake_of_every_section_is_reported_at_once(tmp_path):
    """A bad MAC does not hide the same section's bad cap, nor a missing main section the rest."""
    path = tmp_path / "routerguard"
    path.write_text(MISTAKES)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    problems = {(p.line, p.section, p.option): p for p in info.value.problems}
    assert len(problems) == len(info.value.problems) and set(problems) == {mistake[:3] for mistake in EVERY_MISTAKE}
    for line, section, option, hint in EVERY_MISTAKE:
        problem = problems[line, section, option]
        assert hint in problem.message, problem
        where = f"{path}:{line}: section '{section}'" + (f", option '{option}'" if option else "")
        assert str(problem).startswith(where + ": "), problem
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines)  # in the file's order, for the person on the router with `vi`


def test_a_list_where_an_option_belongs_is_one_problem(config_path):
    config_path.write_text(config_path.read_text() + "\nconfig plan 'plan'\n\tlist quota '1GB'\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(config_path))
    assert [(p.option, p.message) for p in info.value.problems] == [("quota", "write `option quota`, not `list quota`")]


def test_the_config_imports_none_of_the_data_flow_packages():
    """config is read by every layer; importing one of them back would make a cycle (it did: attribute)."""
    flow = {"read", "attribute", "account", "decide", "enforce", "store", "serve"}
    config_dir = os.path.join(os.path.dirname(routerguard.config.__file__))
    for name in os.listdir(config_dir):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(config_dir, name)).read())
            imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
            imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            wrong = [m for m in imported if m.startswith("routerguard.") and m.split(".")[1] in flow]
            assert not wrong, f"routerguard/config/{name} imports {wrong}"


def test_missing_main_section_and_unreadable_file(tmp_path):
    path = tmp_path / "empty"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="missing `config routerguard 'main'`"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(str(tmp_path / "absent"))


def test_syntax_error_is_a_config_error_with_the_line(config_path):
    config_path.write_text(config_path.read_text() + "\nconfig device\n\toption mac '02:00\n")
    with pytest.raises(ConfigError, match=r":8: unterminated single quote"):
        load_config(str(config_path))


def test_parse_helpers():
    assert parse_mac("02-00-00-00-00-0A") == "02:00:00:00:00:0a"
    assert parse_listen("[fd00::1]:8080") == ("fd00::1", 8080)
    assert parse_listen("192.168.8.1") == ("192.168.8.1", 8080)
    with pytest.raises(ValueError, match="IP address"):
        parse_listen("router.lan:80")
    assert format_size_option(5 * 10**9) == "5GB" and format_size_option(512 * 2**20) == "512MiB"


def test_edit_writes_atomically_and_keeps_comments(tmp_path):
    path = tmp_path / "routerguard"
    shutil.copy(EXAMPLE, path)
    config_file = ConfigFile(str(path))

    def cap_new_device(package):
        write_cap(device_section(package, "02:00:00:00:00:0b"), Cap(2 * 10**9, Period("monthly", 15), "block"))

    config = config_file.edit(cap_new_device)
    assert config.devices["02:00:00:00:00:0b"].cap == Cap(2 * 10**9, Period("monthly", 15), "block")
    text = path.read_text()
    assert "# 1: never cut off (the admin's laptop)" in text
    assert text.endswith("config device\n\toption mac '02:00:00:00:00:0b'\n\toption cap '2GB'\n\toption period 'monthly'\n"
                         "\toption reset_day '15'\n\toption action 'block'\n")
    assert load_config(str(path)) == config


def test_an_edit_that_breaks_the_config_changes_nothing(tmp_path):
    path = tmp_path / "routerguard"
    shutil.copy(EXAMPLE, path)
    before = path.read_text()
    config_file = ConfigFile(str(path))
    old = config_file.config
    with pytest.raises(ConfigError, match="no group with id 'ghost'"):
        config_file.edit(lambda package: device_section(package, "02:00:00:00:00:0a").set("group", "ghost"))
    assert path.read_text() == before
    assert config_file.config is old


def test_an_edit_keeps_a_change_made_meanwhile_with_uci(tmp_path):
    path = tmp_path / "routerguard"
    shutil.copy(EXAMPLE, path)
    config_file = ConfigFile(str(path))
    path.write_text(path.read_text().replace("'Zhang phone'", "'Zhang mobile'"))
    config = config_file.edit(lambda package: device_section(package, "02:00:00:00:00:0a").set("exempt", "1"))
    assert config.devices["02:00:00:00:00:0a"].name == "Zhang mobile"
    assert config.devices["02:00:00:00:00:0a"].exempt
