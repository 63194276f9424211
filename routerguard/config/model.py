"""The typed, validated settings that a UCI file describes.

Every problem names the file, the line, the section and the option, and says
what would be valid: the person fixing it is on a router's shell with `vi`.
All problems are collected before anything is reported, so one run lists them
all, and a config with any problem is never half applied.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, TypeVar

from routerguard.config import caps, uci
from routerguard.config.bundles import OPTIONS as BUNDLE_OPTIONS, Bundle, read_bundle
from routerguard.config.caps import Cap, Period
from routerguard.config.categories import domain_problem, shipped_ids
from routerguard.reasons import Refusal
from routerguard.units import parse_size

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")
DEFAULT_PORT = 8080
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,32}$")  # a netifd interface or a Linux device
DEFAULT_THRESHOLDS = (80, 95)
MAX_THRESHOLDS = 5
TELEGRAM_API = "https://api.telegram.org"
BARK_SERVER = "https://api.day.app"
ALERT_LANGUAGES = ("en", "zh-CN")  # the page's languages
DEFAULT_LEASES = "/tmp/dhcp.leases"  # OpenWrt's dnsmasq lease file
FILE_LEVEL = "-"  # a Problem's section when the file as a whole is wrong
DEFAULT_PROBE_URL = "http://connectivitycheck.gstatic.com/generate_204"
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@:-]{1,15}$")  # what Linux takes as an interface name (IFNAMSIZ - 1)
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config, and where."""

    path: str
    line: int
    section: str
    option: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.section != FILE_LEVEL:
            where += f": section '{self.section}'"
        if self.option:
            where += f", option '{self.option}'"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """The config cannot be used; `problems` lists each reason with its place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Main:
    lan_if: str
    wan_if: tuple[str, ...]
    listen: tuple[tuple[str, int], ...]
    data_dir: str
    poll_interval: float = 2.0
    commit_interval: int = 60
    timezone: str | None = None
    dnsmasq_conf_dir: str | None = None
    dnsmasq_restart: str | None = None
    leases: str = DEFAULT_LEASES
    server_name: tuple[str, ...] = ()  # more names the page answers to (the Host check), e.g. 'router.lan'
    firewall_config: str | None = "/etc/config/firewall"  # OpenWrt's UCI firewall: is flow offloading on? ('' = none)
    fw4_include: str | None = None  # the table as last built, for fw4 to load at its start (include.py)
    new_devices: str = "allow"  # allow | approve: a MAC with no `config device` section waits for the admin
    prefer_unmetered: bool = False  # route by a working unmetered uplink first (default: on when one is described)
    # The page also listens on this interface's addresses, looked up at start and on each reload: a logical
    # OpenWrt interface ('lan', via netifd) or a Linux device ('br-lan'); read/listen.py
    listen_interface: str | None = None
    listen_port: int = DEFAULT_PORT


@dataclass(frozen=True)
class SnmpSource:
    host: str
    port: int
    community: str
    if_name: str
    interval: float = 10.0  # seconds between readings of the uplink's counters


@dataclass(frozen=True)
class Plan:
    quota: int
    period: Period
    action: str = "block"
    throttle_kbit: int | None = None


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    cap: Cap | None
    block: tuple[str, ...] = ()
    metered_access: bool = True  # False: its members never go over a metered uplink


@dataclass(frozen=True)
class Device:
    mac: str
    name: str | None = None
    group: str | None = None
    cap: Cap | None = None
    exempt: bool = False
    block: tuple[str, ...] = ()
    approved: bool = True  # under `new_devices 'approve'`: a configured device is approved unless `option approved '0'`
    metered_access: bool | None = None  # False: never over a metered uplink; None: as its group says (default True)


@dataclass(frozen=True)
class Uplink:
    ifname: str
    metered: bool = True
    probe_url: str = ""  # unmetered uplinks: where the probe goes (expects a 204); DEFAULT_PROBE_URL when absent
    network: str | None = None  # the netifd interface name (e.g. 'wwan'): mwan3's name for it


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Notify:
    """Where alerts go (`config notify`): notify.py sends to each channel that is set."""

    webhook: str | None = None
    ntfy: str | None = None
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    telegram_token: str | None = None
    telegram_chat: str | None = None
    telegram_api: str = TELEGRAM_API
    wecom: str | None = None
    dingtalk: str | None = None
    dingtalk_secret: str | None = None
    feishu: str | None = None
    feishu_secret: str | None = None
    bark: str = BARK_SERVER
    bark_key: str | None = None
    language: str = "en"  # of the chat channels' messages; the webhook's JSON keeps the English sentence
    on_unusual: str = "notify"  # notify | throttle | pause: what an unusual-use alert also does to the device


@dataclass(frozen=True)
class Agent:
    enabled: bool = False
    listen: tuple[str, int] = ("127.0.0.1", 1161)
    community: str | None = "public"
    v3_user: str | None = None
    v3_auth_key: str | None = None
    v3_priv_key: str | None = None


@dataclass(frozen=True)
class Config:
    path: str
    main: Main
    snmp: SnmpSource | None = None
    plan: Plan | None = None
    default_cap: Cap | None = None
    groups: dict[str, Group] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    uplinks: tuple[Uplink, ...] = ()
    categories: tuple[Category, ...] = ()
    saver_block: tuple[str, ...] = ()
    notify: Notify = Notify()
    agent: Agent = Agent()
    bundles: tuple[Bundle, ...] = ()  # `config bundle` sections, in the file's order (config/bundles.py)
    newcomer_cap: int | None = None  # `config defaults` `option newcomer_cap`: one allowance all unconfigured MACs share

    @property
    def uplink_names(self) -> tuple[str, ...]:
        """Every uplink routerguard knows: wan_if, then the interfaces of `config uplink` sections not among them."""
        return self.main.wan_if + tuple(u.ifname for u in self.uplinks if u.ifname not in self.main.wan_if)


# --- reading options -----------------------------------------------------------


class _Reader:
    """Reads one section's options, recording problems instead of stopping at the first."""

    def __init__(self, path: str, package: uci.Package, section: uci.Section, allowed: Iterable[str], problems: list[Problem]) -> None:
        self.path, self.section, self.problems = path, section, problems
        self.label = package.label(section)
        allowed = set(allowed)
        for name in section.names():
            if name not in allowed:
                self.fail(name, f"unknown option; valid options here: {', '.join(sorted(allowed))}")

    def fail(self, option: str | None, message: str) -> None:
        line = self.section.line_of(option) if option else self.section.line
        self.problems.append(Problem(self.path, line, self.label, option, message))

    def text(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.section.get(name)
        if value is None and self.section.get_list(name):
            self.fail(name, f"write `option {name}`, not `list {name}`")
            return default
        if value is None:
            if required:
                self.fail(name, "missing; this option is required")
            return default
        return value

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(self.section.get_list(name))

    def convert(self, name: str, parse: Callable[[str], object], default: object = None, required: bool = False) -> object:
        value = self.text(name, required=required)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as e:
            self.fail(name, str(e))
            return default

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in choices:
            self.fail(name, f"{value!r} is not one of: {', '.join(choices)}")
            return default
        return value


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number; expected {low}..{high}") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range; expected {low}..{high}")
        return value

    return parse


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise ValueError(f"{value} is out of range; expected 0.1..3600 seconds")
    return value


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "yes", "on", "true", "enabled"):
        return True
    if lowered in ("0", "no", "off", "false", "disabled"):
        return False
    raise ValueError(f"{text!r} is not a boolean; write '1' or '0'")


def parse_mac(text: str) -> str:
    """A MAC in the contract's form: lowercase with colons (dashes accepted)."""
    mac = text.strip().lower().replace("-", ":")
    if not MAC_RE.match(mac):
        raise Refusal("{text!r} is not a MAC address; write it like 02:00:00:00:00:0a", "not_a_mac", text=text)
    return mac


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or a bare host (port 8080)."""
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else port
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: the host must be an IP address, e.g. '192.168.8.1:8080'") from None
    return host, _int_in(1, 65535)(port)


def _cap(r: _Reader, size_option: str, required: bool, default_period: str = "none") -> Cap | None:
    """The cap a section sets with `size_option`, its period and its action (caps.read_cap's rules)."""
    names = {"bytes": size_option, "throttle_kbit": "throttle"}
    values: dict[str, object] = {}
    for field in caps.FIELDS:
        option = names.get(field, field)
        if option in r.section.names():
            text = r.text(option)  # None: a `list` where an option belongs, reported by text()
            values[field] = caps.REPORTED if text is None else text
    return caps.read_cap(values, lambda field, reason: r.fail(names.get(field, field), str(reason)),
                         lambda field: f"option {names.get(field, field)}",
                         text=True, bytes_required=required, default_period=default_period)


_CAP_OPTIONS = ("cap", "period", "reset_day", "reset_hour", "start", "days", "action", "throttle")


NEW_DEVICES = ("allow", "approve")
ON_UNUSUAL = ("notify", "throttle", "pause")


def _size(text: str) -> int:
    size = parse_size(text)
    if size <= 0:
        raise ValueError(f"{text!r}: give a size above zero, e.g. '2GB'")
    return size


def _main(r: _Reader) -> Main:
    listen = []
    for text in r.values("listen"):
        try:
            listen.append(parse_listen(text))
        except ValueError as e:
            r.fail("listen", str(e))
    interface = r.text("listen_interface")
    if interface is not None and not INTERFACE_RE.match(interface):
        r.fail("listen_interface", f"{interface!r} is not an interface name; write it like 'lan' or 'br-lan'")
        interface = None
    if not r.section.get_list("listen") and not interface:
        r.fail("listen", "missing; give the address the page is served on, e.g. '192.168.8.1:8080', "
                         "or option listen_interface 'lan'")
    wan = r.values("wan_if")
    if not wan:
        r.fail("wan_if", "missing; name the metered uplink interface(s), e.g. 'wwan0'")
    return Main(
        lan_if=r.text("lan_if", "br-lan") or "br-lan",
        wan_if=wan,
        listen=tuple(listen),
        data_dir=r.text("data_dir", "/etc/routerguard") or "/etc/routerguard",
        poll_interval=r.convert("poll_interval", _positive_seconds, 2.0),  # type: ignore[arg-type]
        commit_interval=r.convert("commit_interval", _int_in(1, 86400), 60),  # type: ignore[arg-type]
        timezone=r.text("timezone"),
        dnsmasq_conf_dir=r.text("dnsmasq_conf_dir"),
        dnsmasq_restart=r.text("dnsmasq_restart"),
        leases=r.text("leases", DEFAULT_LEASES) or DEFAULT_LEASES,
        server_name=tuple(_server_names(r)),
        firewall_config=r.text("firewall_config", "/etc/config/firewall") or None,
        fw4_include=r.text("fw4_include") or None,
        new_devices=r.choice("new_devices", NEW_DEVICES, "allow") or "allow",
        prefer_unmetered=r.convert("prefer_unmetered", _boolean, None),  # type: ignore[arg-type]
        listen_interface=interface,
        listen_port=r.convert("listen_port", _int_in(1, 65535), DEFAULT_PORT),  # type: ignore[arg-type]
    )


def _server_names(r: _Reader) -> list[str]:
    names = []
    for name in r.values("server_name"):
        if HOSTNAME_RE.match(name):
            names.append(name.lower().rstrip("."))
        else:
            r.fail("server_name", f"{name!r} is not a host name; write it like 'router.lan'")
    return names


def _snmp(r: _Reader) -> SnmpSource:
    return SnmpSource(
        host=r.text("host", "127.0.0.1") or "127.0.0.1",
        port=r.convert("port", _int_in(1, 65535), 161),  # type: ignore[arg-type]
        community=r.text("community", "public") or "public",
        if_name=r.text("if_name", required=True) or "",
        interval=r.convert("interval", _positive_seconds, 10.0),  # type: ignore[arg-type]
    )


def _plan(r: _Reader) -> Plan | None:
    cap = _cap(r, "quota", required=True, default_period="monthly")
    return Plan(cap.bytes, cap.period, cap.action, cap.throttle_kbit) if cap else None


def _group(r: _Reader) -> Group | None:
    gid = r.text("id", required=True)
    if gid is not None and not ID_RE.match(gid):
        r.fail("id", f"{gid!r}: use 1-32 letters, digits, '_' or '-'")
    cap = _cap(r, "cap", required=False)
    return Group(gid or "", r.text("name", gid) or "", cap, r.values("block"),
                 r.convert("metered_access", _boolean, True)) if gid else None  # type: ignore[arg-type]


def _device(r: _Reader) -> Device | None:
    """The device, or None without a usable MAC (its other options are checked all the same)."""
    mac = r.convert("mac", parse_mac, None, required=True)
    device = Device(
        mac=mac,  # type: ignore[arg-type]
        name=r.text("name"),
        group=r.text("group"),
        cap=_cap(r, "cap", required=False),
        exempt=r.convert("exempt", _boolean, False),  # type: ignore[arg-type]
        block=r.values("block"),
        approved=r.convert("approved", _boolean, True),  # type: ignore[arg-type]
        metered_access=r.convert("metered_access", _boolean, None),  # type: ignore[arg-type]
    )
    return device if mac else None


def _bundle(r: _Reader) -> Bundle | None:
    values: dict[str, object] = {}
    for option in BUNDLE_OPTIONS:
        if option in r.section.names():
            text = r.text(option)  # None: a `list` where an option belongs, reported by text()
            values[option] = caps.REPORTED if text is None else text
    return read_bundle(values, lambda option, reason: r.fail(option, str(reason)), lambda option: f"option {option}",
                       text=True, label=r.section.name or "")


def _bundles(readers: list[_Reader]) -> tuple[Bundle, ...]:
    found: dict[str, Bundle] = {}
    for r in readers:
        bundle = _bundle(r)
        if bundle and r.section.get("id") is None:  # a made-up id: two identical anonymous bundles are two
            bid, n = bundle.id, 1
            while bid in found:
                n += 1
                bid = f"{bundle.id}-{n}"
            bundle = replace(bundle, id=bid, name=bundle.name if bundle.name != bundle.id else bid)
        if bundle and bundle.id in found:
            r.fail("id", f"bundle {bundle.id!r} is defined twice; give each bundle its own id")
        elif bundle:
            found[bundle.id] = bundle
    return tuple(found.values())


def parse_ifname(text: str) -> str:
    """A Linux interface name: 1-15 characters, no '/', no blanks."""
    if not IFNAME_RE.match(text) or text in (".", ".."):
        raise ValueError(f"{text!r} is not an interface name (1-15 letters, digits, '.', '-', '_', '@' or ':'),"
                         " e.g. 'wlan-sta' or 'phy1-sta0'")
    return text


def parse_probe_url(text: str) -> str:
    """The probe's URL: plain http:// (a portal can only answer that) or https://, with a host."""
    return parse_url(text)


def _uplink(r: _Reader) -> Uplink:
    metered = r.convert("metered", _boolean, True)
    probe_url = r.convert("probe_url", parse_probe_url, "")
    if metered and probe_url:
        r.fail("probe_url", "a metered uplink is never probed (no probe crosses a metered uplink); remove probe_url"
                            " or set `option metered '0'`")
    network = r.text("network")
    if network is not None and not ID_RE.match(network):
        r.fail("network", f"{network!r} is not a network interface name (letters, digits, '_' or '-'), e.g. 'wwan'")
    return Uplink(r.convert("ifname", parse_ifname, "", required=True) or "", metered,  # type: ignore[arg-type]
                  probe_url or ("" if metered else DEFAULT_PROBE_URL), network)  # type: ignore[arg-type]


def _category(r: _Reader) -> Category:
    cid = r.text("id", required=True) or ""
    if cid and not ID_RE.match(cid):
        r.fail("id", f"{cid!r}: use 1-32 letters, digits, '_' or '-' (it names nftables sets)")
    domains = tuple(d.lower().strip(".") for d in r.values("domain"))
    for domain in domains:
        problem = domain_problem(domain)
        if problem:
            r.fail("domain", problem)
    return Category(cid, r.text("name", cid) or cid, domains)


def _check_blocks(r: _Reader, known: set[str]) -> None:
    """`list block` names categories that exist: a typo would otherwise block nothing, silently."""
    for category in r.values("block"):
        if category not in known:
            r.fail("block", f"no category {category!r}; categories: {', '.join(sorted(known))}")


def parse_url(text: str) -> str:
    """An http(s) URL with a host: where a channel POSTs (anything else would fail at the first alert)."""
    host = r"(\[[0-9A-Fa-f:.]+\]|[^/?#:\s\[\]@]+)"  # a name, an IPv4 address or a bracketed IPv6 one
    if not text.isprintable() or not re.fullmatch(rf"https?://([^/?#@\s]+@)?{host}(:\d{{1,5}})?([/?#]\S*)?", text, re.IGNORECASE):
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return text


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not re.fullmatch(pattern, text):
            raise ValueError(f"{text!r} is not {what}")
        return text

    return parse


# Each option of `config notify` but the thresholds, and how it is read (the API's PUT checks with the same).
NOTIFY_OPTIONS: dict[str, Callable[[str], str]] = {
    "webhook": parse_url,
    "ntfy": parse_url,
    "telegram_token": _matching(r"\d{1,20}:[A-Za-z0-9_-]{10,100}", "a Telegram bot token (like 123456789:AAE...; @BotFather gives it)"),
    "telegram_chat": _matching(r"-?\d{1,20}|@[A-Za-z0-9_]{5,32}", "a Telegram chat id (a number such as -1001234567890, or @channelname)"),
    "telegram_api": parse_url,
    "wecom": parse_url,
    "dingtalk": parse_url,
    "dingtalk_secret": _matching(r"[\x21-\x7e]{1,200}", "a DingTalk signing secret (the SEC... string of the bot's settings)"),
    "feishu": parse_url,
    "feishu_secret": _matching(r"[\x21-\x7e]{1,200}", "a Feishu signing secret (from the bot's security settings)"),
    "bark": parse_url,
    "bark_key": _matching(r"[A-Za-z0-9_-]{1,100}", "a Bark device key (letters and digits, as the Bark app shows it)"),
    "language": _matching("|".join(ALERT_LANGUAGES), f"one of: {', '.join(ALERT_LANGUAGES)}"),
}
NOTIFY_PAIRS = {"telegram_token": "telegram_chat", "telegram_chat": "telegram_token"}  # one is no use without the other


def parse_threshold(text: str) -> int:
    return _int_in(1, 100)(text)


def _notify(r: _Reader) -> Notify:
    thresholds = []
    given = r.values("threshold")
    if len(given) > MAX_THRESHOLDS:
        r.fail("threshold", f"{len(given)} thresholds; at most {MAX_THRESHOLDS}")
    for text in given or tuple(str(t) for t in DEFAULT_THRESHOLDS):
        try:
            thresholds.append(parse_threshold(text))
        except ValueError as e:
            r.fail("threshold", str(e))
    options = {name: r.convert(name, parse) for name, parse in NOTIFY_OPTIONS.items()}
    for name, partner in NOTIFY_PAIRS.items():
        if options[name] and not options[partner]:
            r.fail(name, f"needs `option {partner}` too")
    options["telegram_api"] = (options["telegram_api"] or TELEGRAM_API).rstrip("/")
    options["bark"] = (options["bark"] or BARK_SERVER).rstrip("/")
    options["language"] = options["language"] or "en"
    options["on_unusual"] = r.choice("on_unusual", ON_UNUSUAL, "notify") or "notify"
    return Notify(thresholds=tuple(sorted(set(thresholds))), **options)  # type: ignore[arg-type]


def _agent(r: _Reader) -> Agent:
    return Agent(
        enabled=r.convert("enabled", _boolean, False),  # type: ignore[arg-type]
        listen=r.convert("listen", parse_listen, ("127.0.0.1", 1161)),  # type: ignore[arg-type]
        community=r.text("community", "public"),
        v3_user=r.text("v3_user"),
        v3_auth_key=r.text("v3_auth_key"),
        v3_priv_key=r.text("v3_priv_key"),
    )


_SECTIONS: dict[str, tuple[str, ...]] = {
    "routerguard": ("lan_if", "wan_if", "listen", "data_dir", "poll_interval", "commit_interval", "timezone", "dnsmasq_conf_dir", "dnsmasq_restart",
                    "leases", "server_name", "firewall_config", "fw4_include", "new_devices", "prefer_unmetered", "listen_interface",
                    "listen_port"),
    "snmp": ("host", "port", "community", "if_name", "interval"),
    "plan": ("quota",) + _CAP_OPTIONS[1:],
    "defaults": _CAP_OPTIONS + ("newcomer_cap",),
    "group": ("id", "name", "block", "metered_access") + _CAP_OPTIONS,
    "device": ("mac", "name", "group", "exempt", "block", "approved", "metered_access") + _CAP_OPTIONS,
    "uplink": ("ifname", "metered", "probe_url", "network"),
    "category": ("id", "name", "domain"),
    "saver": ("block",),
    "notify": ("threshold", "on_unusual", *NOTIFY_OPTIONS),
    "agent": ("enabled", "listen", "community", "v3_user", "v3_auth_key", "v3_priv_key"),
    "bundle": BUNDLE_OPTIONS,
}


def build(package: uci.Package, path: str) -> Config:
    """Turn a parsed UCI package into a Config, or raise ConfigError listing every problem.

    Every section is read, whatever is wrong elsewhere, and every option of a
    section is checked, whatever is wrong with its others; the problems are
    listed in the file's order.
    """
    problems: list[Problem] = []

    def readers(type_: str) -> list[_Reader]:
        return [_Reader(path, package, s, _SECTIONS[type_], problems) for s in package.find(type_)]

    def single(type_: str, read: Callable[[_Reader], T]) -> T | None:
        """The one section of a type that may appear once: a second would be ignored, so it is a problem."""
        found = [read(r) for r in readers(type_)]
        for extra in package.find(type_)[1:]:
            problems.append(Problem(path, extra.line, package.label(extra), None,
                                    f"a second `config {type_}` section; there may be one: merge it into "
                                    f"'{package.label(package.find(type_)[0])}'"))
        return found[0] if found else None

    for section in package.sections:
        if section.type not in _SECTIONS:
            problems.append(Problem(path, section.line, package.label(section), None,
                                    f"unknown section type {section.type!r}; valid types: {', '.join(_SECTIONS)}"))

    main = single("routerguard", _main)
    if main is None:
        problems.append(Problem(path, 1, "main", None, "missing `config routerguard 'main'` with lan_if, wan_if, listen, data_dir"))
    snmp = single("snmp", _snmp)
    plan = single("plan", _plan)
    defaults = single("defaults", lambda r: (_cap(r, "cap", required=True), r.convert("newcomer_cap", _size)))
    default_cap, newcomer_cap = defaults if defaults else (None, None)

    categories = tuple(_category(r) for r in readers("category"))
    known_categories = shipped_ids() | {c.id for c in categories}
    groups: dict[str, Group] = {}
    for r in readers("group"):
        _check_blocks(r, known_categories)
        group = _group(r)
        if group and group.id in groups:
            r.fail("id", f"group {group.id!r} is defined twice; give each group its own id")
        elif group:
            groups[group.id] = group

    devices: dict[str, Device] = {}
    for r in readers("device"):
        _check_blocks(r, known_categories)
        device = _device(r)
        group = r.section.get("group")  # read, not r.text(): a `list group` was reported by _device
        if group is not None and group not in groups:
            r.fail("group", f"no group with id {group!r}; defined groups: {', '.join(groups) or 'none'}")
        if device and device.mac in devices:
            r.fail("mac", f"device {device.mac} is defined twice; merge the two sections")
        elif device:
            devices[device.mac] = device

    savers = readers("saver")
    for r in savers:
        _check_blocks(r, known_categories)
    saver_block = tuple(b for r in savers for b in r.values("block"))
    notify = single("notify", _notify) or Notify()
    agent = single("agent", _agent) or Agent()
    uplinks: list[Uplink] = []
    for r in readers("uplink"):
        uplink = _uplink(r)
        if uplink.ifname and uplink.ifname in {u.ifname for u in uplinks}:
            r.fail("ifname", f"uplink {uplink.ifname!r} is described twice; merge the two sections")
        elif main is not None and uplink.ifname == main.lan_if:
            r.fail("ifname", f"{uplink.ifname!r} is the LAN interface (lan_if), not an uplink")
        else:
            uplinks.append(uplink)
    if main is not None:
        main = _prefer_unmetered(main, uplinks, package, path, problems)
    bundles = _bundles(readers("bundle"))

    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line))
    assert main is not None  # its absence is a problem, raised above
    return Config(path, main, snmp, plan, default_cap, groups, devices, tuple(uplinks), categories, saver_block, notify, agent,
                  bundles=bundles, newcomer_cap=newcomer_cap)  # type: ignore[arg-type]


def _prefer_unmetered(main: Main, uplinks: list[Uplink], package: uci.Package, path: str, problems: list[Problem]) -> Main:
    """`prefer_unmetered`: default on when an uplink is described unmetered; on with none, a problem."""
    free = [u for u in uplinks if not u.metered]
    wanted = main.prefer_unmetered  # None when not given: _main read it so
    if wanted and not free:
        section = package.find("routerguard")[0]
        problems.append(Problem(path, section.line_of("prefer_unmetered"), package.label(section), "prefer_unmetered",
                                "no unmetered uplink to prefer: add a `config uplink` with `option metered '0'`"
                                " (an interface not in wan_if)"))
    return replace(main, prefer_unmetered=bool(free) if wanted is None else bool(wanted and free))


def load_config(path: str) -> Config:
    """Read and validate the config at `path`."""
    return build(read_package(path), path)


def read_package(path: str) -> uci.Package:
    """The parsed UCI file, with syntax and I/O errors turned into ConfigError."""
    try:
        return uci.read(path)
    except uci.UciSyntaxError as e:
        raise ConfigError([Problem(path, e.line, FILE_LEVEL, None, e.message)]) from None
    except OSError as e:
        raise ConfigError([Problem(path, 0, FILE_LEVEL, None, f"cannot read the file: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(path, 0, FILE_LEVEL, None, "the file is not UTF-8 text")]) from None


def data_path(config: Config, *parts: str) -> str:
    """A path inside data_dir."""
    return os.path.join(config.main.data_dir, *parts)
