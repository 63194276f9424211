"""The admin pages: thin views over Service, with plain HTML forms.

Forms work without JavaScript: each posts (with its CSRF token) to a small
view that turns the fields into the API's JSON shape and calls the same
Service command the API does. Success goes back to the page with "Saved."
(post/redirect/get); a refused value shows the page again with the reason
and status 422, having changed nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from routerguard import units
from routerguard.config.model import ConfigError
from routerguard.reasons import Refusal
from routerguard.serve.auth import auth, is_public, public
from routerguard.serve.charts import bar_chart
from routerguard.serve.context import local_path, service
from routerguard.serve.errors import extra_headers, refused_config
from routerguard.serve.i18n import language, say, translate
from routerguard.serve.security import refuse_cross_site
from routerguard.service import Invalid, NotFound
from routerguard.service.views import Published

bp = Blueprint("admin", __name__)
MAX_LABEL = 64
CHART_FORMATS = {"hour": "%H:%M", "day": "%m-%d"}
CARDS = "routerguard_device_cards"  # app.extensions: the dashboard's device cards of the views served now
CARD = "routerguard_device_card"  # app.extensions: each device's card, with the view it was rendered from


@bp.before_request
def guard() -> Response | None:
    if is_public():
        return None
    if auth().who() is None:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")), 303)
    auth().require()
    return None


# --- forms to the API's shapes ---------------------------------------------------


def _field(form: MultiDict, name: str, parse: Callable[[str], Any]) -> Any:
    """A form field's value, or None when empty; Invalid names the field (i18n's term_<name>) and why."""
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return parse(text)
    except ValueError as e:
        raise Invalid("{field}: {reason}", "field_reason", field=name, reason=e) from None


def _whole(text: str) -> int:
    if not text.isdigit():
        raise Refusal("{text!r} is not a whole number", "not_a_number", text=text)
    return int(text)


def cap_from_form(form: MultiDict) -> dict | None:
    """A cap body from the cap fields (see templates/macros.html); no size means no cap."""
    size = _field(form, "size", units.parse_size)
    if size is None:
        return None
    cap = {"bytes": size, "period": form.get("period", "none"), "action": form.get("action", "block")}
    optional = {"throttle_kbit": _field(form, "throttle", units.parse_rate_kbit),
                "reset_day": _field(form, "reset_day", _whole),
                "days": _field(form, "days", _whole)}
    cap.update({k: v for k, v in optional.items() if v is not None})
    if cap["period"] == "days":
        cap["start"] = form.get("start", "")
    return cap


def act(change: Callable[[], object], page: Callable[..., str], back: str) -> Response | tuple[str, int]:
    """Run a Service command for a form: back to `back` when done, else the page again with why (422)."""
    try:
        change()
    except Invalid as e:
        return page(error=not_saved(e)), 422
    except ConfigError as e:
        return page(error=not_saved(refused_config(e))), 422
    flash(translate("saved"), "ok")
    return redirect(back, 303)


def not_saved(error: BaseException) -> str:
    """"Not saved: <why>", in the reader's language."""
    return translate("not_saved", reason=say(error))


def _clock(fmt: str) -> Callable[[str], str]:
    return lambda text: service().local_time(text).strftime(fmt)


def _chart(mac: str, step: str, title: str) -> str:
    return bar_chart(service().history(mac, step)["points"], _clock(CHART_FORMATS[step]), translate(title))


# --- login -----------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int] | str:
    closed = not service().secrets.has_password()
    two_factor = service().secrets.totp_enabled()
    if request.method == "GET" or closed:
        return render_template("login.html", closed=closed, two_factor=two_factor)
    try:
        refuse_cross_site()
        auth().login(request.form.get("password", ""), request.form.get("otp", ""))
    except HTTPException as e:
        return render_template("login.html", closed=False, two_factor=two_factor, error=say(e)), e.code or 401, extra_headers(e)
    return redirect(local_path(request.args.get("next"), url_for("admin.dashboard")), 303)


@bp.post("/logout")
def logout() -> Response:
    auth().logout()
    return redirect(url_for("selfservice.me"), 303)


# --- dashboard and devices -------------------------------------------------------


@bp.get("/admin")
def dashboard() -> str:
    views = service().publication()  # one publication for the whole page (service/views.py)
    if views is None:
        devices = service().devices()
        return render_template("dashboard.html", plan=service().plan(), devices=devices,
                               breakdown=service().plan_breakdown(),
                               cards=Markup("\n".join(render_template("device_card.html", d=d) for d in devices)))
    return render_template("dashboard.html", plan=views.plan, devices=views.devices, breakdown=views.breakdown,
                           cards=device_cards(views))


def device_cards(views: Published) -> Markup:
    """The dashboard's device cards (most of its HTML), rendered once per publication of the views and language,
    not per request; and a card whose device's view is the same as at the last publication is not rendered again
    (most devices are idle at any moment: a reading every 2 s changed every card's publication before)."""
    key = (language(), request.script_root)
    kept = current_app.extensions.get(CARDS)  # (serial, {key: cards}), replaced whole by a newer publication
    if kept is not None and kept[0] == views.serial and key in kept[1]:
        return kept[1][key]
    known = current_app.extensions.setdefault(CARD, {})  # {(key, mac): (view, card)}, each language's own
    parts = []
    card = _card_renderer()
    for d in views.devices:
        shown = card_shows(d)
        found = known.get((key, d["mac"]))
        if found is None or found[0] != shown:
            found = known[(key, d["mac"])] = (shown, card(d))
        parts.append(found[1])
    gone = {(key, d["mac"]) for d in views.devices} ^ {k for k in known if k[0] == key}
    for stale in gone:  # devices no longer shown (forgotten, renamed away): their cards go
        known.pop(stale, None)
    cards = Markup("\n".join(parts))
    if kept is None or kept[0] != views.serial:
        kept = current_app.extensions[CARDS] = (views.serial, {})
    kept[1][key] = cards
    return cards


def _card_renderer() -> Callable[[dict], str]:
    """device_card.html for one device view, with this request's template context made once for all the cards
    (render_template runs the context processors for each: a third of a card's cost)."""
    template = current_app.jinja_env.get_template("device_card.html")
    context: dict = {}
    current_app.update_template_context(context)
    return lambda d: template.render(context, d=d)


def card_shows(d: dict) -> tuple:
    """What device_card.html shows of a device's view (not its limits: the plan's use moves with anyone's)."""
    return (d["mac"], d.get("name"), d.get("hostname"), d.get("approved"), d.get("state"), d.get("online"),
            tuple(d.get("ips") or ()), d["usage"]["total_bytes"], d.get("allowance_bytes"), d["rate"]["up_bps"],
            d["rate"]["down_bps"])


def device_page(mac: str, error: str | None = None) -> str:
    return render_template("device.html", device=service().device(mac), groups=service().groups(), error=error,
                           hours=_chart(mac, "hour", "history_hours"), days=_chart(mac, "day", "history_days"),
                           destinations=service().destinations(mac), categories=service().categories_used(mac))


@bp.get("/admin/devices/<mac>")
def device(mac: str) -> str:
    return device_page(mac)


def _device_change(mac: str, body: Callable[[], dict]) -> Response | tuple[str, int]:
    url = url_for("admin.device", mac=mac)
    return act(lambda: service().patch_device(mac, body()), lambda error: device_page(mac, error), url)


@bp.post("/admin/devices/<mac>/settings")
def device_settings(mac: str) -> Response | tuple[str, int]:
    form = request.form
    return _device_change(mac, lambda: {"name": form.get("name", "").strip() or None, "group": form.get("group") or None,
                                        "exempt": form.get("exempt") == "1",
                                        "metered_access": form.get("metered_access") == "1"})


@bp.post("/admin/devices/<mac>/cap")
def device_cap(mac: str) -> Response | tuple[str, int]:
    return _device_change(mac, lambda: {"cap": None if "remove" in request.form else cap_from_form(request.form)})


@bp.post("/admin/devices/<mac>/block")
def device_block(mac: str) -> Response | tuple[str, int]:
    return _device_change(mac, lambda: {"blocked": request.form.get("blocked") == "1"})


@bp.post("/admin/devices/<mac>/topup")
def device_topup(mac: str) -> Response | tuple[str, int]:
    def change() -> None:
        service().topup(mac, {"bytes": _field(request.form, "size", units.parse_size)})

    return act(change, lambda error: device_page(mac, error), url_for("admin.device", mac=mac))


@bp.post("/admin/devices/<mac>/reset")
def device_reset(mac: str) -> Response | tuple[str, int]:
    return act(lambda: service().reset(mac), lambda error: device_page(mac, error), url_for("admin.device", mac=mac))


# --- groups, plan, alerts -----------------------------------------------------------


def groups_page(error: str | None = None) -> str:
    return render_template("groups.html", groups=service().groups(), devices=service().devices(), error=error)


@bp.get("/admin/groups")
def groups() -> str:
    return groups_page()


@bp.post("/admin/groups")
def put_group() -> Response | tuple[str, int]:
    form = request.form

    def change() -> None:
        service().put_group(form.get("id", "").strip(), {"name": form.get("name", "").strip() or form.get("id", "").strip(),
                                                         "cap": cap_from_form(form), "members": form.getlist("members")})

    return act(change, groups_page, url_for("admin.groups"))


@bp.post("/admin/groups/<gid>/delete")
def delete_group(gid: str) -> Response | tuple[str, int]:
    return act(lambda: service().delete_group(gid), groups_page, url_for("admin.groups"))


def plan_page(error: str | None = None) -> str:
    return render_template("plan.html", plan=service().plan(), uplinks=service().uplinks(), error=error)


@bp.get("/admin/plan")
def plan() -> str:
    return plan_page()


@bp.post("/admin/plan")
def set_plan() -> Response | tuple[str, int]:
    body = None if "remove" in request.form else cap_from_form(request.form)
    return act(lambda: service().set_plan(body), plan_page, url_for("admin.plan"))


@bp.get("/admin/alerts")
def alerts() -> str:
    return render_template("alerts.html", alerts=service().alerts())


# --- API tokens ----------------------------------------------------------------------


def tokens_page(error: str | None = None, new_token: str | None = None) -> str:
    return render_template("tokens.html", tokens=service().secrets.tokens(), error=error, new_token=new_token)


@bp.get("/admin/tokens")
def tokens() -> str:
    return tokens_page()


@bp.post("/admin/tokens")
def new_token() -> str | tuple[str, int]:
    """Shows the new token on this response only: it is never stored in the clear, nor put in a cookie."""
    label = request.form.get("label", "").strip()
    if len(label) > MAX_LABEL:
        too_long = Invalid("the label is longer than {most} characters", "long_label", most=MAX_LABEL)
        return tokens_page(error=not_saved(too_long)), 422
    return tokens_page(new_token=service().secrets.new_token(label))


@bp.post("/admin/tokens/<tid>/revoke")
def revoke_token(tid: str) -> Response:
    if not service().secrets.revoke_token(tid):
        raise NotFound("no token with id {tid!r}", "no_token", tid=tid)
    flash(translate("saved"), "ok")
    return redirect(url_for("admin.tokens"), 303)
