"""The nftables text for a desired kernel state: a pure function, tested without a kernel.

Everything lives in one table, `inet routerguard`, changed in one `nft -f`
transaction; the firewall's own tables (fw4's `inet fw4`) are never touched.

    forward (before fw4's filter chain)
      LAN -> metered WAN: upstream    WAN -> LAN: downstream
    upstream
      ct mark id is none (or newcomer) -> ether saddr vmap @dev_by_mac -> mark_N: set the id
      still none -> mark as a newcomer
      ct mark id vmap @dev_by_mark -> dev_N | newcomer
    downstream
      ct mark id vmap @dev_by_mark -> dev_N | newcomer
      none (a flow opened from the internet, before the device answers): daddr vmap @dev_by_ip4/6 -> dev_N
    dev_N: the device's guard: counted, quotas charged, cut (reject), or slowed (limit)
    captive (nat prerouting): blocked MACs' plain HTTP -> our responder
    dns_guard (input): every device's DNS to the router itself marked with its id and counted
      (@dns_count_up); a cut (or unapproved) device's rate-limited per MAC
    dns_answers (output): the router's answers, limited in bytes for the marks in @held_marks, then
      counted per device (@dns_count_down)
    router_out / router_in: the router's own traffic, counted and charged to the plan, never cut

Each device's chain, and the router's, starts with two named counters, its
bytes up and down: each meter reading charges what they moved
(account/counters.py), and the table outlives the daemon, so what they count
while no daemon runs can be charged afterwards (recovery.py). Each device
also has two counters of its DNS to the router's own resolver
(dns_counter_names), which the forward hook never sees: the meter reads them
per device, and recovery leaves them alone (the router's counters count the
relayed DNS). The newcomers' shared chain has a pair too, which their DNS
moves as well: they say only whether any newcomer moved bytes, so the meter
dumps the newcomers' flows only then.

Downstream packets carry no LAN MAC, so the mark set on a flow's upstream
packets is what ties both directions to the device. A flow opened from the
internet (a port forward, an IPv6 connection to a device: P2P, games) sends
its first packets downstream before the device has said anything: those
reach the device's chain by its LAN address (the daemon's directory, as of
its last reading), and the device's first answer marks the flow by MAC. The id sits in bits
0x7FFF0000 of the ct mark (marks.py) and is written with constant masks
(nft 1.0.6 cannot `or` a map lookup into the mark), hence one tiny `mark_N`
chain per device.

Two scripts: `create` makes the table afresh (on a boot, or when an old
table cannot be updated); `update` changes the table in place, keeping its
quota and limit objects, so the kernel's count of what a quota has consumed
survives every change of allowance: `add quota` on an existing object only
changes its limit. Objects no longer wanted are deleted in the same
transaction; sets that are not ours to fill (dnsmasq's) keep their elements.
An update declares every set and map before flushing it, so a table of an
older version that lacks one is updated in place too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from routerguard.enforce import metered_access, saver
from routerguard.attribute.marks import MARK_MASK, NEWCOMER_ID, mark_of
from routerguard.enforce.saver import Saver

TABLE = "inet routerguard"
FORWARD_PRIORITY = "filter - 10"  # before fw4's forward chain (filter), so a cut packet never reaches its `flow add`
CAPTIVE_PRIORITY = "dstnat - 10"  # before fw4's port forwards
ROUTER_PRIORITY = "filter"
NEWCOMER_CHAIN = "newcomer"
ROUTER_OWNER = "router"  # whose counters count the router's own traffic
HTTP_PORT = 80
KEEP_BITS = 0xFFFFFFFF & ~MARK_MASK  # the ct mark bits other tools own (mwan3: 0x3F00), and TOLD
TOLD = 0x80000000  # ct mark bit: this flow's device has been sent its reset
LIMIT_BURST = 1500  # bytes on top of nft's one second of rate, so a full-size packet always fits
BYTES_PER_KBIT = 125
PROBE_ADDRESS, PROBE_ADDRESS6 = "192.0.2.1", "2001:db8::1"  # documentation addresses: `nft -c` only needs some
ADDRESS_MAPS = {"ipv4": "dev_by_ip4", "ipv6": "dev_by_ip6"}  # a device's chain by its LAN address, per family
DNS_GUARD_PRIORITY = "filter - 10"  # input hook; a drop is final whatever fw4's input chain would accept
DNS_PORT = 53
DNS_RATE, DNS_BURST = 20, 50  # queries a second (and at once) a cut device may send the router's resolver: no tunnel
DNS_RATE_TIMEOUT = "1m"  # a MAC's limiter is forgotten this long after its last query
DNS_ANSWER_KBYTES, DNS_ANSWER_BURST_KBYTES = 2, 4  # answers' bytes a second (and at once) to a cut device
DNS_COUNT_MAPS = ("dns_count_up", "dns_count_down")  # a device's mark -> its DNS counters (dns_counter_names)


@dataclass(frozen=True)
class Quota:
    """A kernel quota object: one scope's allowance under one basis (its name says which).

    `used` is where the count starts when the object is created; an object
    that already exists keeps its own count (the kernel ignores it then).
    """

    name: str
    allowance: int
    used: int = field(default=0, compare=False)
    comment: str = ""


@dataclass(frozen=True)
class Guard:
    """What the kernel does with one device's packets, both directions.

    `counts` are charged and never cut (an exempt device still spends the
    plan); `cuts` reject once used up; `throttles` (quota, kbit) slow down
    once used up. `blocked` and `throttle_kbit` apply whatever the quotas
    say: the daemon's own decision (a manual block, or usage the kernel did
    not see), so the two can only make each other stricter.
    """

    counts: tuple[str, ...] = ()
    cuts: tuple[str, ...] = ()
    throttles: tuple[tuple[str, int], ...] = ()
    blocked: bool = False
    throttle_kbit: int | None = None

    def slowed(self) -> list[tuple[str | None, int]]:
        """(quota or None for the daemon's own decision, kbit): each limiter a packet may pass, one per rate.

        A packet passes each limiter once: a quota slowing to the daemon's rate
        or a faster one is only charged, the daemon's limiter holds it already.
        """
        held = self.throttle_kbit
        limits: list[tuple[str | None, int]] = [(q, kbit) for q, kbit in self.throttles if not held or kbit < held]
        return limits + [(None, held)] if held else limits


@dataclass(frozen=True)
class Device:
    """`addresses`: its LAN addresses now, for the packets of flows opened from the internet before it answers."""

    mac: str
    id: int
    guard: Guard
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Captive:
    """Where blocked devices' plain HTTP goes: our responder, per address family."""

    port: int
    ipv4: str | None = None
    ipv6: str | None = None


@dataclass(frozen=True)
class Ruleset:
    lan_if: str
    wan_ifs: tuple[str, ...]
    quotas: tuple[Quota, ...] = ()
    devices: tuple[Device, ...] = ()
    newcomer: Guard = Guard()  # MACs not registered yet: they share one default allowance
    plan: str | None = None  # the plan's quota, also charged by the router and by flows of no known device
    captive: Captive | None = None
    saver: Saver = Saver()  # the leak guard's data saver and unmetered uplinks (saver.py)
    dns_free: tuple[str, ...] | None = None  # `new_devices 'approve'`: the MACs whose DNS is not limited; None: all but @blocked
    no_metered: tuple[str, ...] = ()  # MACs never let out by a metered uplink (metered_access.py)


@dataclass(frozen=True)
class Present:
    """The objects a table holds: what an update deletes when they are no longer wanted."""

    chains: frozenset[str] = frozenset()
    quotas: frozenset[str] = frozenset()
    limits: frozenset[str] = frozenset()
    counters: frozenset[str] = frozenset()


def create(rules: Ruleset) -> str:
    """The table afresh, replacing any old one."""
    return "\n".join([f"add table {TABLE}", f"delete table {TABLE}", *_declarations(rules), *_objects(rules)]) + "\n"


def update(rules: Ruleset, present: Present, recount: frozenset[str] = frozenset()) -> str:
    """The table changed from what it holds (`present`) to `rules`, keeping every quota's and limit's count.

    Quotas named in `recount` are made anew from their `used` (a restart
    that finds the kernel counted less than the database holds).
    """
    lines = [f"flush table {TABLE}", *_declarations(rules), f"flush map {TABLE} dev_by_mac",
             f"flush map {TABLE} dev_by_mark", *(f"flush map {TABLE} {name}" for name in ADDRESS_MAPS.values()),
             f"flush set {TABLE} blocked", f"flush set {TABLE} dns_free", f"flush set {TABLE} held_marks",
             *(f"flush map {TABLE} {name}" for name in DNS_COUNT_MAPS)]
    lines += [f"delete quota {TABLE} {name}" for name in sorted(recount & present.quotas)]
    lines += _objects(rules)
    wanted = present_after(rules)
    lines += [f"delete chain {TABLE} {name}" for name in sorted(present.chains - wanted.chains)]
    lines += [f"delete quota {TABLE} {name}" for name in sorted(present.quotas - wanted.quotas)]
    lines += [f"delete limit {TABLE} {name}" for name in sorted(present.limits - wanted.limits)]
    lines += [f"delete counter {TABLE} {name}" for name in sorted(present.counters - wanted.counters)]
    return "\n".join(lines) + "\n"


def present_after(rules: Ruleset) -> Present:
    """What the table holds once `rules` are applied."""
    chains = {"forward", "upstream", "downstream", "cut", "dns_guard", "dns_answers"} | {chain for chain, _ in _guards(rules)}
    chains |= {f"mark_{d.id}" for d in rules.devices}
    if rules.captive:
        chains.add("captive")
    if rules.wan_ifs:
        chains |= {"router_out", "router_in"}
    chains |= saver.chains(rules.saver) if rules.wan_ifs else set()
    return Present(frozenset(chains), frozenset(q.name for q in rules.quotas), frozenset(_limit_rates(rules)),
                   frozenset(_counters(rules)))


def probe(lan_if: str, wan_ifs: tuple[str, ...]) -> Ruleset:
    """A small ruleset that uses every kernel feature the caps need, for `routerguard check`."""
    device = Device("02:00:00:00:00:01", 1, Guard(cuts=("q_probe",), throttles=(("q_probe", 256),), blocked=True))
    return Ruleset(lan_if, wan_ifs, (Quota("q_probe", 1),), (device,), plan="q_probe",
                   captive=Captive(HTTP_PORT, PROBE_ADDRESS, PROBE_ADDRESS6))


def device_chain(device_id: int) -> str:
    return f"dev_{device_id}"


def counter_names(owner: str) -> tuple[str, str]:
    """The counters of a device's chain (`owner` is device_chain(id)) or of the router's ("router"): (up, down)."""
    return f"c_{owner}_up", f"c_{owner}_down"


def dns_counter_names(device_id: int) -> tuple[str, str]:
    """The counters of a device's DNS to the router's own resolver (_dns_guard): (queries up, answers down).

    Not the device's forwarded usage (counter_names): the router's resolver
    relays it upstream as the router's own traffic, which c_router_* count.
    """
    return f"c_dns_{device_id}_up", f"c_dns_{device_id}_down"


def limit_name(chain: str, kbit: int, direction: str) -> str:
    return f"lim_{chain}_{kbit}_{direction}"


# --- the script's parts --------------------------------------------------------


def _declarations(rules: Ruleset) -> list[str]:
    """The table and its sets and maps: harmless to repeat, so an update adds those an older table lacks."""
    return [
        f"add table {TABLE}",
        f"add map {TABLE} dev_by_mac {{ type ether_addr : verdict; }}",
        f"add map {TABLE} dev_by_mark {{ type mark : verdict; }}",
        *(f"add map {TABLE} {name} {{ type {family}_addr : verdict; }}" for family, name in ADDRESS_MAPS.items()),
        f"add set {TABLE} blocked {{ type ether_addr; }}",
        f"add set {TABLE} dns_free {{ type ether_addr; }}",
        f"add set {TABLE} dns_rate {{ type ether_addr; flags dynamic,timeout; timeout {DNS_RATE_TIMEOUT}; size 65535; }}",
        f"add set {TABLE} dns_down {{ type mark; flags dynamic,timeout; timeout {DNS_RATE_TIMEOUT}; size 65535; }}",
        f"add set {TABLE} held_marks {{ type mark; }}",
        *(f"add map {TABLE} {name} {{ type mark : counter; }}" for name in DNS_COUNT_MAPS),
        *saver.declarations(rules.saver, TABLE),
    ]


def _objects(rules: Ruleset) -> list[str]:
    """Everything in the table but its sets and maps: the objects, chains and elements."""
    lines = [_quota(q) for q in rules.quotas]
    lines += [f"add counter {TABLE} {name}" for name in _counters(rules)]
    lines += [f"add limit {TABLE} {name} {{ rate over {kbit * BYTES_PER_KBIT} bytes/second burst {LIMIT_BURST} bytes; }}"
              for name, kbit in sorted(_limit_rates(rules).items())]
    lines += _dispatch(rules)
    for device in rules.devices:
        lines += [f"add chain {TABLE} mark_{device.id}",
                  f"add rule {TABLE} mark_{device.id} ct mark set ct mark and {KEEP_BITS:#010x} or {mark_of(device.id):#010x}"]
    for chain, guard in _guards(rules):
        lines += _guard(rules, chain, guard)
    lines += _elements(rules)
    lines += _captive(rules)
    lines += _dns_guard(rules)
    lines += _router(rules)
    lines += saver.router(rules.saver, TABLE, _names(rules.wan_ifs), KEEP_BITS) if rules.wan_ifs else []
    return lines


def _quota(q: Quota) -> str:
    """The kernel refuses a count above the limit; at the limit the next packet is over, which is the same."""
    comment = f' comment "{q.comment}";' if q.comment else ""
    return f"add quota {TABLE} {q.name} {{ over {q.allowance} bytes used {min(q.used, q.allowance)} bytes;{comment} }}"


def _dispatch(rules: Ruleset) -> list[str]:
    lan, wans = _name(rules.lan_if), _names(rules.wan_ifs)
    newcomer = f"{mark_of(NEWCOMER_ID):#010x}"
    lines = [
        f"add chain {TABLE} forward {{ type filter hook forward priority {FORWARD_PRIORITY}; policy accept; }}",
        f"add chain {TABLE} upstream",
        f"add chain {TABLE} downstream",
        f"add chain {TABLE} cut",
        # Downstream, `reject` would answer only the server; the device, with nothing left to
        # acknowledge, would wait for data forever. So the first cut packet towards it becomes
        # its reset, and the rest are rejected as usual. A connection the internet opens to a cut
        # device (ct state new) is refused to its opener at once: the device never hears of it.
        f"add rule {TABLE} cut oifname {lan} meta l4proto tcp ct state != new ct mark and {TOLD:#010x} 0x00000000"
        f" ct mark set ct mark or {TOLD:#010x} tcp flags set rst|ack accept",
        f"add rule {TABLE} cut meta l4proto tcp reject with tcp reset",
        f"add rule {TABLE} cut reject with icmpx admin-prohibited",
        f"add rule {TABLE} upstream ct mark and {MARK_MASK:#010x} {{ 0x00000000, {newcomer} }} ether saddr vmap @dev_by_mac",
        f"add rule {TABLE} upstream ct mark and {MARK_MASK:#010x} 0x00000000"
        f" ct mark set ct mark and {KEEP_BITS:#010x} or {newcomer}",
        f"add rule {TABLE} upstream ct mark and {MARK_MASK:#010x} vmap @dev_by_mark",
        f"add rule {TABLE} downstream ct mark and {MARK_MASK:#010x} vmap @dev_by_mark",
        f"add rule {TABLE} downstream ip daddr vmap @{ADDRESS_MAPS['ipv4']}",
        f"add rule {TABLE} downstream ip6 daddr vmap @{ADDRESS_MAPS['ipv6']}",
    ]
    if rules.plan:  # a flow no device claims (older than the table, or marked by another tool): still the plan's
        lines += [f'add rule {TABLE} {chain} quota name "{rules.plan}"' for chain in ("upstream", "downstream")]
    if rules.wan_ifs:  # (_names of none is "{  }", which is truthy)
        lines += metered_access.forward(rules.no_metered, TABLE, lan, wans)
        lines += saver.forward(rules.saver, TABLE, lan, wans, KEEP_BITS)
        lines += [f"add rule {TABLE} forward iifname {lan} oifname {wans} jump upstream",
                  f"add rule {TABLE} forward iifname {wans} oifname {lan} jump downstream"]
    return lines


def _guard(rules: Ruleset, chain: str, guard: Guard) -> list[str]:
    """One device's chain (or the newcomers'): count, charge, then cut or slow; every packet charges each quota
    once."""
    lan = _name(rules.lan_if)
    head = f"add rule {TABLE} {chain}"
    lines = [f"add chain {TABLE} {chain}"]
    up, down = counter_names(chain)
    lines += [f'{head} iifname {lan} counter name "{up}"', f'{head} oifname {lan} counter name "{down}"']
    lines += [f'{head} quota name "{q}"' for q in guard.counts]
    if guard.blocked:
        lines.append(f"{head} goto cut")
    lines += [f'{head} quota name "{q}" goto cut' for q in guard.cuts]
    slowed = guard.slowed()
    lines += [f'{head} quota name "{quota}"' for quota, kbit in guard.throttles if (quota, kbit) not in slowed]
    for quota, kbit in slowed:
        charge = f' quota name "{quota}"' if quota else ""
        lines += [f'{head} iifname {lan}{charge} limit name "{limit_name(chain, kbit, "up")}" drop',
                  f'{head} oifname {lan}{charge} limit name "{limit_name(chain, kbit, "down")}" drop']
    return lines


def _elements(rules: Ruleset) -> list[str]:
    by_mark = [f"{mark_of(NEWCOMER_ID):#010x} : goto {NEWCOMER_CHAIN}"]
    by_mark += [f"{mark_of(d.id):#010x} : goto {device_chain(d.id)}" for d in rules.devices]
    lines = [f"add element {TABLE} dev_by_mark {{ {', '.join(by_mark)} }}"]
    if rules.devices:
        by_mac = ", ".join(f"{d.mac} : jump mark_{d.id}" for d in rules.devices)
        lines.append(f"add element {TABLE} dev_by_mac {{ {by_mac} }}")
    for family, name in ADDRESS_MAPS.items():
        by_address = [f"{a} : goto {device_chain(d.id)}" for d in rules.devices for a in d.addresses
                      if ("ipv6" if ":" in a else "ipv4") == family]
        if by_address:
            lines.append(f"add element {TABLE} {name} {{ {', '.join(by_address)} }}")
    blocked = [d.mac for d in rules.devices if d.guard.blocked]
    if blocked:
        lines.append(f"add element {TABLE} blocked {{ {', '.join(blocked)} }}")
    if rules.dns_free:
        lines.append(f"add element {TABLE} dns_free {{ {', '.join(rules.dns_free)} }}")
    held = _held_marks(rules)
    if held:
        lines.append(f"add element {TABLE} held_marks {{ {', '.join(f'{mark:#010x}' for mark in held)} }}")
    for name, index in zip(DNS_COUNT_MAPS, (0, 1)):
        counters = [f'{mark_of(d.id):#010x} : "{dns_counter_names(d.id)[index]}"' for d in rules.devices]
        counters.append(f'{mark_of(NEWCOMER_ID):#010x} : "{counter_names(NEWCOMER_CHAIN)[index]}"')  # a trigger only
        lines.append(f"add element {TABLE} {name} {{ {', '.join(counters)} }}")
    return lines


def _dns_guard(rules: Ruleset) -> list[str]:
    """Every device's DNS to the router's own resolver counted; a cut device's limited: no way around the cut.

    The router's resolver forwards what it cannot answer, as the router's own
    traffic: random names under a tunnel server's domain carry data both ways
    (13.7 MB/s measured). A held device is limited to DNS_RATE queries a
    second per MAC (each MAC its own limiter in a dynamic set), names still
    resolve for the captive page and the device's own page; no tunnel
    carries more than a few KB/s. DNS over TCP is refused outright: one TCP
    query can fetch a 64 KB answer. A query's answer can be 50 times its size
    (a 1 KB TXT record): the answers to a held device are limited in bytes too
    (DNS_ANSWER_KBYTES, plenty for names). Which MACs are held: those in
    @blocked, or, under `new_devices 'approve'`, every MAC not in @dns_free
    (approved and not cut), so a MAC the daemon has not met yet is held from
    its first query.

    The output hook knows no MAC, so every query (UDP and TCP, any device)
    marks its conntrack entry with the device's id, as a forwarded flow's
    (the id bits of the ct mark; a MAC with no id yet shares the newcomers'
    mark, looked up again at each query until it has one), and the answers
    are limited by mark: those of the marks in @held_marks, the held devices'
    ids (and, under approve, the newcomers'). The same mark picks the
    device's two DNS counters (dns_counter_names) from @dns_count_up and
    @dns_count_down: what the router's resolver received from it (counted
    after the limiter's drop) and the answers it was sent (after theirs), at
    the IP layer. A mark with no element (a newcomer's) counts nowhere and
    drops nothing. So the kernel counts, per device, the DNS the forward
    hook never sees; the router's counters count what the resolver relays.
    """
    lan = _name(rules.lan_if)
    held = "ether saddr @blocked" if rules.dns_free is None else "ether saddr != @dns_free"
    head = f"add rule {TABLE} dns_guard iifname {lan}"
    dns = f"udp dport {DNS_PORT}"
    any_dns = f"meta l4proto {{ tcp, udp }} th dport {DNS_PORT}"
    ours = f"ct mark and {MARK_MASK:#010x}"
    newcomer = f"{mark_of(NEWCOMER_ID):#010x}"
    up, down = DNS_COUNT_MAPS
    return [
        f"add chain {TABLE} dns_guard {{ type filter hook input priority {DNS_GUARD_PRIORITY}; policy accept; }}",
        f"{head} tcp dport {DNS_PORT} {held} reject with tcp reset",
        f"{head} {any_dns} {ours} {{ 0x00000000, {newcomer} }} ether saddr vmap @dev_by_mac",
        f"{head} {any_dns} {ours} 0x00000000 ct mark set ct mark and {KEEP_BITS:#010x} or {newcomer}",
        f"{head} {dns} {held} update @dns_rate"
        f" {{ ether saddr limit rate over {DNS_RATE}/second burst {DNS_BURST} packets }} drop",
        f"{head} {any_dns} counter name {ours} map @{up}",
        f"add chain {TABLE} dns_answers {{ type filter hook output priority {DNS_GUARD_PRIORITY}; policy accept; }}",
        f"add rule {TABLE} dns_answers oifname {lan} udp sport {DNS_PORT} {ours} @held_marks update @dns_down"
        f" {{ {ours} limit rate over {DNS_ANSWER_KBYTES} kbytes/second burst {DNS_ANSWER_BURST_KBYTES} kbytes }} drop",
        f"add rule {TABLE} dns_answers oifname {lan} meta l4proto {{ tcp, udp }} th sport {DNS_PORT}"
        f" counter name {ours} map @{down}",
    ]


def _captive(rules: Ruleset) -> list[str]:
    """Blocked devices' plain HTTP to anywhere but the router goes to our responder (captive.py)."""
    captive = rules.captive
    if captive is None:
        return []
    head = (f"add rule {TABLE} captive iifname {_name(rules.lan_if)} ether saddr @blocked"
            f" fib daddr type != local tcp dport {HTTP_PORT}")
    lines = [f"add chain {TABLE} captive {{ type nat hook prerouting priority {CAPTIVE_PRIORITY}; policy accept; }}"]
    if captive.ipv4:
        lines.append(f"{head} dnat ip to {captive.ipv4}:{captive.port}")
    if captive.ipv6:
        lines.append(f"{head} dnat ip6 to [{captive.ipv6}]:{captive.port}")
    return lines


def _router(rules: Ruleset) -> list[str]:
    """The router's own traffic over a metered uplink is counted and spends the plan too, but is never cut."""
    if not rules.wan_ifs:
        return []
    wans = _names(rules.wan_ifs)
    charge = f' quota name "{rules.plan}"' if rules.plan else ""
    up, down = counter_names(ROUTER_OWNER)
    return [
        f"add chain {TABLE} router_out {{ type filter hook output priority {ROUTER_PRIORITY}; policy accept; }}",
        f'add rule {TABLE} router_out oifname {wans} ct direction original counter name "{up}"{charge}',
        f"add chain {TABLE} router_in {{ type filter hook input priority {ROUTER_PRIORITY}; policy accept; }}",
        f'add rule {TABLE} router_in iifname {wans} ct direction reply counter name "{down}"{charge}',
    ]


def _guards(rules: Ruleset) -> list[tuple[str, Guard]]:
    """Each guard with the chain it fills."""
    return [(NEWCOMER_CHAIN, rules.newcomer)] + [(device_chain(d.id), d.guard) for d in rules.devices]


def _counters(rules: Ruleset) -> list[str]:
    """Every named counter: two per device chain, two for the newcomers' (all of them together: the meter dumps
    their flows only when these move), two for the router's own traffic, two per device's DNS."""
    owners = [device_chain(d.id) for d in rules.devices] + [NEWCOMER_CHAIN] + ([ROUTER_OWNER] if rules.wan_ifs else [])
    return ([name for owner in owners for name in counter_names(owner)]
            + [name for d in rules.devices for name in dns_counter_names(d.id)])


def _held_marks(rules: Ruleset) -> list[int]:
    """The marks whose DNS answers are limited: the devices _dns_guard holds, by the id their queries carry."""
    if rules.dns_free is None:
        return sorted(mark_of(d.id) for d in rules.devices if d.guard.blocked)
    free = set(rules.dns_free)
    return [mark_of(NEWCOMER_ID)] + sorted(mark_of(d.id) for d in rules.devices if d.mac not in free)


def _limit_rates(rules: Ruleset) -> dict[str, int]:
    """Each named limit the guards use, and its rate in kbit/s."""
    return {limit_name(chain, kbit, direction): kbit
            for chain, guard in _guards(rules) for _, kbit in guard.slowed() for direction in ("up", "down")}


def _name(ifname: str) -> str:
    return f'"{ifname}"'


def _names(ifnames: tuple[str, ...]) -> str:
    return "{ " + ", ".join(_name(i) for i in ifnames) + " }"
