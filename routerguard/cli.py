"""The `routerguard` command.

Heavy imports (flask, pyroute2, pysnmp) happen inside the subcommands that
need them: `routerguard check` on a 128 MB router should not pay for the web
stack.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from routerguard import __version__
from routerguard.config.model import ConfigError, load_config

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

    return Daemon(args.config).run()


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


def cmd_token(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from routerguard.store.secrets import Secrets

    print(Secrets(config.main.data_dir).new_token(args.label))
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from routerguard.lab.demo import run_demo

    return run_demo(port=args.port, clients=args.clients)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerguard", description="Data-cap guard for travel routers.")
    p.add_argument("--version", action="version", version=f"routerguard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        if name != "lab":
            sp.add_argument("--config", default=os.environ.get("ROUTERGUARD_CONFIG", DEFAULT_CONFIG),
                            help=f"UCI config file (default {DEFAULT_CONFIG})")
        return sp

    command("run", cmd_run, "run the daemon in the foreground: meter, enforce, serve the page")
    command("check", cmd_check, "validate the config and the system; exit 2 on any problem")
    command("passwd", cmd_passwd, "set the admin password (read from stdin when it is not a terminal)")
    token = command("token", cmd_token, "create an API token and print it")
    token.add_argument("--label", default="", help="a note to recognise the token by in the list")
    lab = command("lab", cmd_lab, "start a virtual router with clients in network namespaces and serve its page")
    lab.add_argument("--port", type=int, default=8080, help="host port for the page on 127.0.0.1")
    lab.add_argument("--clients", type=int, default=3, help="number of client devices")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
