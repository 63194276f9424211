"""The `routerguard` command.

Heavy imports (flask, waitress, pysnmp) happen inside the subcommands that
need them: `routerguard check` on a 128 MB router should not pay for the web
stack.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Callable

from routerguard import __version__
from routerguard.config.caps import ACTIONS, PERIODS
from routerguard.config.model import ConfigError, load_config
from routerguard.units import parse_duration, parse_rate_kbit, parse_size

EXIT_OK = 0
EXIT_PROBLEM = 2
DEFAULT_CONFIG = "/etc/config/routerguard"


def _load(path: str):
    """The config, or a message on stderr naming each problem and exit status 2."""
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"routerguard: the config {path} has problems:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(EXIT_PROBLEM) from None


def cmd_run(args: argparse.Namespace) -> int:
    _load(args.config)
    from routerguard.daemon import Daemon
    from routerguard.system.memory import fix_mmap_threshold, trim_periodically

    fix_mmap_threshold()  # glibc: a login's 16 MiB scrypt buffer is given back, not kept by a thread's arena
    trim_periodically()  # glibc: and what the heaps freed below the threshold, every 10 s

    return Daemon(args.config, syslog=args.syslog).run()


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from routerguard.system.check import check_system

    findings = check_system(config)
    print(f"config {args.config}: ok")
    for finding in findings:
        print(finding)
    problems = [f for f in findings if not f.ok and f.blocking]
    if problems:
        print(f"{len(problems)} problem(s): routerguard cannot run until they are fixed", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("New admin password: ")
        if first != getpass.getpass("Again: "):
            raise ValueError("the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_passwd(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from routerguard.store.secrets import Secrets

    try:
        Secrets(config.main.data_dir).set_password(_read_password())
    except ValueError as e:
        print(f"routerguard: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    print("admin password set", file=sys.stderr)
    return EXIT_OK


def cmd_2fa(args: argparse.Namespace) -> int:
    """Two-factor login on or off, on the router itself (root: secrets.json is root's alone).

    `enable` prints the key and its otpauth:// URI for an authenticator app, then the recovery codes;
    a second `enable` replaces the key. Either ends every session of the page.
    """
    config = _load(args.config)
    import socket

    from routerguard.store import totp
    from routerguard.store.secrets import Secrets

    secrets = Secrets(config.main.data_dir)
    if args.action == "disable":
        was = secrets.disable_totp()
        print("two-factor login is off" if was else "two-factor login was already off", file=sys.stderr)
        return EXIT_OK
    if not secrets.has_password():
        print("routerguard: set the admin password first: routerguard passwd", file=sys.stderr)
        return EXIT_PROBLEM
    secret = totp.new_secret()
    codes = secrets.enable_totp(secret)
    print(f"secret: {secret}")
    print(f"uri: {totp.uri(secret, f'admin@{socket.gethostname()}')}")
    print("recovery codes (each logs in once without the app; shown only now):")
    for code in codes:
        print(f"  {code}")
    print("two-factor login is on: every session of the page has ended", file=sys.stderr)
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from routerguard.store.secrets import Secrets

    print(Secrets(config.main.data_dir).new_token(args.label))
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("routerguard_lab") is None:  # a package beside routerguard, not on routers
        print("routerguard: the lab (package routerguard_lab) is not installed here: router packages leave it out; "
              "run it on a PC from a source checkout: pip install . && routerguard lab", file=sys.stderr)
        return EXIT_PROBLEM
    from routerguard_lab.demo import run_demo
    from routerguard_lab.lab_daemon import DEMO_PASSWORD

    print(f"admin password of the lab's page: {DEMO_PASSWORD}", flush=True)
    return run_demo(port=args.port, clients=args.clients, daemon_argv=[sys.executable, "-m", "routerguard_lab.lab_daemon"])


# --- commands against the running daemon (its HTTP API; see routerguard/client.py) ---------

EXIT_DAEMON_DOWN = 1
TOP_INTERVAL = 2.0  # seconds between frames of `top`; the daemon's rates span 6 s
CLEAR_SCREEN = "\x1b[H\x1b[2J"
DEFAULT_CAP = {"period": "daily", "action": "block"}  # for a device that had no cap of its own
KEPT_WITH_PERIOD = ("reset_day", "reset_hour", "start", "days")  # a cap's options that belong to its period


def _remote(func: Callable[[argparse.Namespace, Any], Any]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command that talks to the daemon: exit 1 when it does not answer, 2 with the API's error."""

    def run(args: argparse.Namespace) -> int:
        from routerguard.client import ApiError, Client, DaemonDown

        client = Client.for_config(_load(args.config))
        try:
            shown = func(args, client)
        except DaemonDown as e:
            print(f"routerguard: {e}", file=sys.stderr)
            return EXIT_DAEMON_DOWN
        except (ApiError, ValueError) as e:
            print(f"routerguard: {e}", file=sys.stderr)
            return EXIT_PROBLEM
        if shown is not None:
            print(json.dumps(shown, indent=2, ensure_ascii=False) if args.json else shown)
        return EXIT_OK

    return run


def cmd_status(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    plan, devices = client.plan(), client.devices()
    return {"plan": plan, **devices} if args.json else console.status(plan, devices["devices"])


def cmd_devices(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    devices = client.devices()
    return devices if args.json else console.devices_table(devices["devices"])


def cmd_top(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    if args.once:
        devices = client.devices()
        return devices if args.json else console.top_frame(devices["devices"], datetime.now())
    try:
        while True:
            devices = client.devices()
            frame = json.dumps(devices, ensure_ascii=False) if args.json else console.top_frame(devices["devices"], datetime.now())
            print(CLEAR_SCREEN + frame if sys.stdout.isatty() and not args.json else frame, flush=True)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return None


def _changed(args: argparse.Namespace, device: dict) -> Any:
    from routerguard import console

    return device if args.json else console.summary(device)


def cmd_cap(args: argparse.Namespace, client) -> Any:
    if args.size.lower() == "none":
        return _changed(args, client.patch_device(args.mac, {"cap": None}))
    old = client.device(args.mac)["cap"] or DEFAULT_CAP
    period = args.period or old["period"]
    action = args.action or old["action"]
    cap = {"bytes": parse_size(args.size), "period": period, "action": action}
    if args.throttle:
        cap["throttle_kbit"] = parse_rate_kbit(args.throttle)
    elif action == "throttle" and old.get("throttle_kbit"):
        cap["throttle_kbit"] = old["throttle_kbit"]
    if period == old["period"]:
        cap.update({key: old[key] for key in KEPT_WITH_PERIOD if old.get(key) is not None})
    if args.reset_day is not None:
        cap["reset_day"] = args.reset_day
    return _changed(args, client.patch_device(args.mac, {"cap": cap}))


GROUP_PREFIX = "group:"  # `topup group:ID SIZE`; `topup plan SIZE` tops up the plan


def cmd_topup(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    nbytes = parse_size(args.size)
    if args.target == "plan":
        plan = client.topup_plan(nbytes)
        return plan if args.json else "\n".join(console.plan_lines(plan))
    if args.target.startswith(GROUP_PREFIX):
        group = client.topup_group(args.target[len(GROUP_PREFIX):], nbytes)
        return group if args.json else console.group_summary(group)
    return _changed(args, client.topup(args.target, nbytes))


def _size_option(text: str) -> int:
    """A size given to an option, refused by argparse (exit 2, naming the option) when it is not one."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_plan_calibrate(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    said = {"used_bytes": args.used} if args.used is not None else {"left_bytes": args.left}
    plan = client.calibrate(said)
    return plan if args.json else "\n".join(console.plan_lines(plan))


def cmd_block(args: argparse.Namespace, client) -> Any:
    change: dict[str, Any] = {"blocked": True}
    if args.for_:
        change["blocked_for"] = parse_duration(args.for_)  # counted on the daemon's clock, not this machine's
    return _changed(args, client.patch_device(args.mac, change))


def cmd_unblock(args: argparse.Namespace, client) -> Any:
    return _changed(args, client.patch_device(args.mac, {"blocked": False}))


# --- the plan as eSIM bundles: `routerguard plan [add|remove|costs]` ---


def cmd_plan(args: argparse.Namespace, client) -> Any:
    from routerguard import console

    action = getattr(args, "plan_command", None)
    if action == "add":
        size = parse_size(args.size)
        if size <= 0:
            raise ValueError("SIZE must be more than 0 bytes")
        bundle: dict[str, Any] = {"daily_bytes" if args.daily else "quota_bytes": size, "days": args.days}
        for key in ("name", "start", "price", "currency", "id"):
            if getattr(args, key, None) is not None:
                bundle[key] = getattr(args, key)
        added = client.add_bundle(bundle)
        return added if args.json else console.bundle_line(added)
    if action == "remove":
        client.remove_bundle(args.id)
        return {"removed": args.id} if args.json else f"bundle {args.id} removed"
    if action == "calibrate":
        return cmd_plan_calibrate(args, client)
    if action == "costs":
        costs = client.costs(args.since, args.until)
        if args.csv:
            return console.costs_csv(costs["costs"])
        return costs if args.json else console.costs_table(costs["costs"])
    plan = client.plan()
    if args.json:
        return plan
    if not plan.get("bundles"):  # one recurring plan (or none): its summary, then how to add a bundle
        return "\n".join(console.plan_lines(plan) + [console.bundles_table(plan)])
    return "\n".join([console.bundles_table(plan)] + console.counter_lines(plan))


def _plan_parsers(plan: argparse.ArgumentParser) -> None:
    sub = plan.add_subparsers(dest="plan_command", metavar="ACTION")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the API's JSON")
        sp.add_argument("--config", default=argparse.SUPPRESS, help="UCI config file (as for `plan`)")
        return sp

    add = action("add", "add a bundle, e.g. `plan add 5GB --days 7 --name 'Add-on'` or `plan add 1GB --days 30 --daily`")
    add.add_argument("size", help="bytes for the whole validity (5GB), or a day with --daily")
    add.add_argument("--days", type=int, required=True, help="valid this many days from its start")
    add.add_argument("--name", help="what the carrier calls it")
    add.add_argument("--daily", action="store_true", help="a day pack: SIZE each day; unused bytes lapse at midnight")
    add.add_argument("--start", help="local time it began, e.g. 2026-11-20T09:00 (default: now)")
    add.add_argument("--price", help="what it cost, e.g. 700 (with --currency)")
    add.add_argument("--currency", help="three letters, e.g. PKR")
    add.add_argument("--id", help="an id of your own (default: made up)")
    remove = action("remove", "remove a bundle by its id")
    remove.add_argument("id")
    calibrate = action("calibrate", "set the plan's count to what the carrier's app or USSD says now")
    said = calibrate.add_mutually_exclusive_group(required=True)
    said.add_argument("--used", metavar="SIZE", type=_size_option, help="what the carrier says is used this period, e.g. 7.2GB")
    said.add_argument("--left", metavar="SIZE", type=_size_option, help="what the carrier says is left, e.g. 2.8GB")
    costs = action("costs", "the bill split by usage: each device's share of priced bundles")
    costs.add_argument("--from", dest="since", metavar="TIME", help="RFC 3339, e.g. 2026-11-20T00:00:00Z")
    costs.add_argument("--to", dest="until", metavar="TIME")
    costs.add_argument("--csv", action="store_true", help="print CSV (columns mac,group,bytes,amount,currency)")


def cmd_approve(args: argparse.Namespace, client) -> Any:
    return _changed(args, client.patch_device(args.mac, {"approved": True}))


def cmd_rpcd(args: argparse.Namespace) -> int:
    from routerguard import rpcd

    return rpcd.main(args.rpcd_args, args.config)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerguard", description="Data-cap guard for travel routers.")
    p.add_argument("--version", action="version", version=f"routerguard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help_: str, within=sub) -> argparse.ArgumentParser:
        sp = within.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        if name != "lab":
            # A subcommand's subcommand (`plan calibrate`) takes the options too, without its default hiding the parent's.
            default = os.environ.get("ROUTERGUARD_CONFIG", DEFAULT_CONFIG) if within is sub else argparse.SUPPRESS
            sp.add_argument("--config", default=default, help=f"UCI config file (default {DEFAULT_CONFIG})")
        return sp

    run = command("run", cmd_run, "run the daemon in the foreground: meter, enforce, serve the page")
    run.add_argument("--syslog", action="store_true",
                     help="log to the system log (/dev/log, facility daemon) at each line's level, not stderr")
    command("check", cmd_check, "validate the config and the system; exit 2 on any problem")
    command("passwd", cmd_passwd, "set the admin password (read from stdin when it is not a terminal)")
    two_factor = command("2fa", cmd_2fa, "turn two-factor login (TOTP) on or off; `enable` prints the key and its otpauth:// URI")
    two_factor.add_argument("action", choices=("enable", "disable"))
    token = command("token", cmd_token, "create an API token and print it")
    token.add_argument("--label", default="", help="a note to recognise the token by in the list")
    rpcd = command("rpcd", cmd_rpcd, "answer OpenWrt's rpcd: `rpcd list`, `rpcd call METHOD` (JSON on stdin)")
    rpcd.add_argument("rpcd_args", nargs="*", metavar="list | call METHOD")
    lab = command("lab", cmd_lab, "start a virtual router with clients in network namespaces and serve its page")
    lab.add_argument("--port", type=int, default=8080, help="host port for the page on 127.0.0.1")
    lab.add_argument("--clients", type=int, default=3, help="number of client devices")

    def remote(name: str, func, help_: str, within=sub) -> argparse.ArgumentParser:
        sp = command(name, _remote(func), help_, within)
        sp.add_argument("--json", action="store_true", default=False if within is sub else argparse.SUPPRESS,
                        help="print the API's JSON instead of a table")
        return sp

    remote("status", cmd_status, "show the data plan and every device")
    remote("devices", cmd_devices, "list the devices with their usage, caps and state")
    top = remote("top", cmd_top, "live rates per device, busiest first, refreshing like top")
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    top.add_argument("--interval", type=float, default=TOP_INTERVAL, help=f"seconds between frames (default {TOP_INTERVAL:g})")
    cap = remote("cap", cmd_cap, "set a device's cap, e.g. `cap 02:00:00:00:00:0a 1GB --period daily`; `none` removes it")
    cap.add_argument("mac")
    cap.add_argument("size", help="bytes per period (5GB, 512MiB) or `none`")
    cap.add_argument("--period", choices=PERIODS, help="when it starts afresh (default: the cap's current one, else daily)")
    cap.add_argument("--action", choices=ACTIONS, help="what happens when it is used up (default: the current one, else block)")
    cap.add_argument("--throttle", metavar="RATE", help="the rate with --action throttle, e.g. 256kbit")
    cap.add_argument("--reset-day", type=int, help="day of the month (monthly) or week, 1 = Monday (weekly)")
    topup = remote("topup", cmd_topup, "add to a device's, a group's (group:ID) or the plan's (plan) allowance for the "
                                       "current period")
    topup.add_argument("target", metavar="MAC|group:ID|plan")
    topup.add_argument("size", help="e.g. 500MB")
    block = remote("block", cmd_block, "cut a device off now, whatever its cap")
    block.add_argument("mac")
    block.add_argument("--for", dest="for_", metavar="DURATION", help="only for a while, e.g. 1h or 30m")
    unblock = remote("unblock", cmd_unblock, "lift a block made with `block`")
    unblock.add_argument("mac")
    _plan_parsers(remote("plan", cmd_plan, "the plan and its bundles as a table; `plan add`, `plan remove`, `plan calibrate`, `plan costs`"))
    approve = remote("approve", cmd_approve, "let a new device on the internet (under `new_devices 'approve'`)")
    approve.add_argument("mac")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
