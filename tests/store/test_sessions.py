"""The page's live sessions and their signing key (store/sessions.py), and the second factor's state in secrets.json."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pyotp

from routerguard.store import totp
from routerguard.store.secrets import FILENAME, Secrets
from routerguard.store.sessions import FILENAME as SESSIONS
from routerguard.store.sessions import MAX_SESSIONS, SessionStore


def test_a_session_lives_until_it_is_ended_or_expires(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path))
    sid = store.start(3600)
    assert store.alive(sid) and not store.alive("made-up") and not store.alive(None)
    store.end(sid)
    assert not store.alive(sid)
    assert not store.alive(store.start(-1))


def test_another_process_sees_the_same_sessions_and_key(tmp_path: Path) -> None:
    daemon, cli = SessionStore(str(tmp_path)), SessionStore(str(tmp_path))
    sid, key = daemon.start(3600), daemon.key()
    assert cli.alive(sid) and cli.key() == key
    cli.end_all()
    assert not daemon.alive(sid) and daemon.key() != key


def test_the_file_is_the_owners_alone(tmp_path: Path) -> None:
    SessionStore(str(tmp_path)).start(3600)
    assert stat.S_IMODE(os.stat(tmp_path / SESSIONS).st_mode) == 0o600


def test_the_oldest_sessions_go_first_beyond_the_most(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path))
    sids = [store.start(3600 + n) for n in range(MAX_SESSIONS + 3)]
    assert [store.alive(s) for s in sids] == [False] * 3 + [True] * MAX_SESSIONS


def test_a_broken_file_means_no_sessions_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / SESSIONS).write_text("{not json")
    store = SessionStore(str(tmp_path))
    assert not store.alive("x") and store.key()
    assert store.alive(store.start(60))


def test_a_password_change_ends_every_session_and_drops_the_old_key_from_secrets_json(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text(json.dumps({"password": None, "tokens": [], "session_key": "old"}))
    secrets = Secrets(str(tmp_path))
    sid, key = secrets.sessions.start(3600), secrets.sessions.key()
    secrets.set_password("long enough password")
    assert not secrets.sessions.alive(sid) and secrets.sessions.key() != key
    assert "session_key" not in json.loads((tmp_path / FILENAME).read_text())


def test_a_totp_code_counts_once_and_a_recovery_code_once(tmp_path: Path) -> None:
    secrets = Secrets(str(tmp_path))
    secret = totp.new_secret()
    codes = secrets.enable_totp(secret)
    moment = 1_800_000_000.0
    code = pyotp.TOTP(secret).at(moment)
    assert secrets.check_otp(code, moment) and not secrets.check_otp(code, moment)
    assert not secrets.check_otp(pyotp.TOTP(secret).at(moment - 30), moment), "an older step after a newer one"
    assert secrets.check_otp(pyotp.TOTP(secret).at(moment + 30), moment + 30)
    assert secrets.check_otp(codes[0].replace("-", " ").upper()) and not secrets.check_otp(codes[0])
    assert secrets.recovery_left() == len(codes) - 1
    assert secrets.disable_totp() and not secrets.totp_enabled() and not secrets.check_otp(codes[1])


def test_enabling_totp_ends_every_session(tmp_path: Path) -> None:
    secrets = Secrets(str(tmp_path))
    sid = secrets.sessions.start(3600)
    secrets.enable_totp(totp.new_secret())
    assert not secrets.sessions.alive(sid)
