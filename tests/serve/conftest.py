"""Fixtures for the web tests: the real app over a real Core, served by waitress.

Each test gets a fresh router: a temp config and data_dir (real SQLite),
the Service over it, and the daemon's own Server on 127.0.0.1 with a free
port. Tests drive it over real HTTP. The admin password's hash is made once
per session, at a lower scrypt cost, and copied in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from werkzeug.security import generate_password_hash

from routerguard.core import Core
from routerguard.serve.server import Server
from routerguard.service import Service
from routerguard.store.secrets import FILENAME, Secrets

from web_util import LAPTOP, PASSWORD, PHONE, Site

TEST_HASH = "scrypt:1024:8:1"  # werkzeug keeps the cost in the hash; the default takes 0.2 s a check

CONFIG = """\
config routerguard 'main'
	option lan_if 'br-lan'
	list wan_if 'wwan0'
	list listen '192.168.8.1:8080'
	option data_dir '{data_dir}'
	option timezone 'Asia/Shanghai'
	list server_name 'router.lan'

config plan 'plan'
	option quota '20GB'
	option period 'monthly'
	option reset_day '1'
	option action 'block'

config group
	option id 'zhang'
	option name 'Zhang family'
	option cap '5GB'
	option period 'daily'
	option action 'throttle'
	option throttle '256kbit'

config device
	option mac '02:00:00:00:00:0a'
	option name 'Zhang phone'
	option group 'zhang'
	option cap '1GB'
	option period 'daily'
	option action 'block'
"""


@pytest.fixture(scope="session")
def hashed_secrets(tmp_path_factory: pytest.TempPathFactory) -> str:
    """secrets.json as `routerguard passwd` writes it, with a cheaper scrypt cost so that logins stay fast."""
    folder = tmp_path_factory.mktemp("secrets")
    Secrets(str(folder)).set_password(PASSWORD)
    path = folder / FILENAME
    stored = json.loads(path.read_text())
    stored["password"] = generate_password_hash(PASSWORD, method=TEST_HASH)
    path.write_text(json.dumps(stored))
    return str(path)


@pytest.fixture
def make_site(tmp_path: Path, hashed_secrets: str) -> Iterator[Callable[..., Site]]:
    """`make_site(password=True)`: a router with the test config (and the admin password, unless told not)."""
    running: list[tuple[Server, Core]] = []

    def make(password: bool = True) -> Site:
        root = tmp_path / f"router{len(running)}"
        data_dir = root / "data"
        data_dir.mkdir(parents=True)
        if password:
            shutil.copy(hashed_secrets, data_dir / FILENAME)
        config_path = str(root / "routerguard")
        Path(config_path).write_text(CONFIG.format(data_dir=data_dir))
        core = Core(config_path)
        service = Service(core)
        server = Server(service, (("127.0.0.1", 0),))
        server.start()
        running.append((server, core))
        site = Site(f"http://127.0.0.1:{server.port}", core, service, config_path)
        site.device(PHONE, "192.168.8.23", "zhang-phone")
        site.device(LAPTOP, "192.168.8.24", "laptop")
        return site

    yield make
    for server, core in running:
        server.stop()
        core.db.close()


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


@pytest.fixture
def admin(site: Site) -> requests.Session:
    return site.login()



# ---- browser: Debian's Chromium through Playwright (browser_util.py), for the page tests ----
@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One Chromium for every page test of a worker (each test opens its own context): a launch costs a second."""
    from browser_util import CHROMIUM, CHROMIUM_ARGS, playwright_api

    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def router(site: Site) -> Site:
    """The test site, plus the browser's own machine as a guest device with a cap and some usage."""
    from browser_util import GUEST

    site.device(GUEST, "127.0.0.1", "guest-phone")
    site.service.patch_device(GUEST, {"name": "Guest phone", "cap": {"bytes": 2 * 10**9, "period": "daily", "action": "block"}})
    site.usage(GUEST, 40 * 10**6, 610 * 10**6)
    for hours_ago, (up, down) in enumerate([(3, 80), (9, 240), (1, 30), (20, 400), (5, 60)]):
        site.usage(PHONE, up * 10**6, down * 10**6, ago=hours_ago * 3600)
    site.usage(LAPTOP, 2 * 10**6, 90 * 10**6, ago=26 * 3600)
    return site
# ---- end browser ----
