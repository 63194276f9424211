"""The admin's own safety: change the password, two-factor login (TOTP), end every session.

/admin/security. Each change asks for the password again (and, with two-factor
login on, a code): a browser left open is not enough to lock its owner out.
A change of the password or of the second factor ends every session
(store/sessions.py); the browser that made it gets a fresh one at once.

Enrolling: the page makes a secret and shows it as a QR code drawn here
(segno, an SVG in a data: URI, nothing fetched) and as text; the secret
travels back in the form, and is only kept once a code made from it proves
the app has it. The recovery codes are shown on that answer only.
"""

from __future__ import annotations

import socket

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.admin import not_saved
from routerguard.serve.auth import auth
from routerguard.serve.context import service
from routerguard.serve.errors import extra_headers
from routerguard.serve.i18n import translate
from routerguard.service import Invalid
from routerguard.store import totp
from routerguard.store.secrets import MIN_PASSWORD_LENGTH

bp = Blueprint("guard_page", __name__)
bp.before_request(admin_guard)
QR_SCALE = 5


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG data: URI (allowed by the page's CSP: img-src 'self' data:)."""
    import segno

    return segno.make(text, error="m", micro=False).svg_data_uri(scale=QR_SCALE, border=4)


def account_name() -> str:
    return f"admin@{socket.gethostname()}"


def page(error: str | None = None, status: int = 200, headers: dict | None = None, **shown: object):
    secrets = service().secrets
    html = render_template("security.html", two_factor=secrets.totp_enabled(), recovery_left=secrets.recovery_left(),
                           min_length=MIN_PASSWORD_LENGTH, error=error, **shown)
    return html, status, headers or {}


def refused(e: HTTPException):
    return page(error=not_saved(e), status=e.code or 400, headers=extra_headers(e))


@bp.get("/admin/security")
def security() -> tuple:
    return page()


@bp.post("/admin/security/password")
def change_password() -> Response | tuple:
    form = request.form
    try:
        auth().prove(form.get("current", ""), form.get("otp", ""))
    except HTTPException as e:
        return refused(e)
    new = form.get("new", "")
    if new != form.get("again", ""):
        return page(error=not_saved(Invalid("the two new passwords differ", "passwords_differ")), status=422)
    if len(new) < MIN_PASSWORD_LENGTH:
        short = Invalid("the password is too short: use at least {most} characters", "password_short", most=MIN_PASSWORD_LENGTH)
        return page(error=not_saved(short), status=422)
    service().secrets.set_password(new)  # ends every session
    auth().start_session()
    flash(translate("password_changed"), "ok")
    return redirect(url_for("guard_page.security"), 303)


@bp.post("/admin/security/2fa/start")
def start_two_factor() -> tuple:
    secret = totp.new_secret()
    uri = totp.uri(secret, account_name())
    return page(pending=secret, qr=qr_data_uri(uri), uri=uri)


@bp.post("/admin/security/2fa/confirm")
def confirm_two_factor() -> tuple:
    secret = request.form.get("secret", "")
    if not totp.valid_secret(secret):
        return page(error=not_saved(Invalid("the key is not a base32 TOTP key", "otp_secret")), status=422)
    shown = {"pending": secret, "qr": qr_data_uri(totp.uri(secret, account_name())), "uri": totp.uri(secret, account_name())}
    try:
        with auth().attempt():  # a wrong code counts towards the slow-down, as at the login
            step = totp.matching_step(secret, request.form.get("otp", ""))
            if step is None:
                raise Invalid("wrong one-time code", "otp_wrong")
    except HTTPException as e:
        return page(error=not_saved(e), status=e.code or 429, headers=extra_headers(e), **shown)
    except Invalid as e:
        return page(error=not_saved(e), status=422, **shown)
    codes = service().secrets.enable_totp(secret, step)  # ends every session
    auth().start_session()
    return page(recovery_codes=codes)


@bp.post("/admin/security/2fa/disable")
def disable_two_factor() -> Response | tuple:
    try:
        auth().prove(request.form.get("current", ""), request.form.get("otp", ""))
    except HTTPException as e:
        return refused(e)
    service().secrets.disable_totp()  # ends every session
    auth().start_session()
    flash(translate("two_factor_disabled"), "ok")
    return redirect(url_for("guard_page.security"), 303)


@bp.post("/admin/security/sessions/end")
def end_sessions() -> Response:
    service().secrets.sessions.end_all()
    auth().start_session()
    flash(translate("sessions_ended"), "ok")
    return redirect(url_for("guard_page.security"), 303)
