"""Guarding the guard: alerts about devices themselves, and what unusual use also does. Pure functions.

- "new_device": a MAC seen for the first time (not configured): its hostname
  and first address, so the admin knows who came (and, under `new_devices
  'approve'`, whom to let on).
- "borrowed_mac": a MAC that now shows a DHCP identity (client id or
  hostname) another MAC showed first: a device that took another's MAC, to
  spend its allowance or be exempt like it.
- `on_unusual`: an unusual-use alert (alerts.py) may also slow the device
  down or pause it for ACTION_SECONDS; the alert then says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from routerguard.decide.alerts import Alert
from routerguard.decide.periods import DAY, HOUR

NEW_DEVICE, BORROWED_MAC = "new_device", "borrowed_mac"
ACTION_SECONDS = HOUR  # how long on_unusual's throttle or pause lasts
DEFAULT_THROTTLE_KBIT = 256  # on_unusual 'throttle' for a device whose cap names no throttle


@dataclass(frozen=True)
class Identity:
    """What a device told DHCP about itself."""

    client_id: str | None = None
    hostname: str | None = None

    def merged(self, newer: Identity) -> Identity:
        """The first value of each part is kept: it is the one the MAC's owner gave."""
        return Identity(self.client_id or newer.client_id, self.hostname or newer.hostname)


def new_device(mac: str, hostname: str | None, address: str | None) -> Alert:
    name = f" ({hostname})" if hostname else ""
    at = f" at {address}" if address else ""
    return Alert(NEW_DEVICE, mac, f"New device {mac}{name}{at} joined the network.", f"{NEW_DEVICE}:{mac}", 0.0,
                 details={"hostname": hostname, "address": address},
                 params={"mac": mac, "hostname": hostname or "", "address": address or ""})


def borrowed_from(mac: str, shown: Identity, known: dict[str, Identity]) -> tuple[str, str] | None:
    """(the other MAC, which part matched) when `mac` shows an identity another MAC showed first, else None.

    A client id that is the MAC itself (01:<mac>, the usual default) says nothing: a device that takes another's
    MAC gets that one too. Its own first identity never counts against it.
    """
    own = known.get(mac, Identity())
    for part in ("client_id", "hostname"):
        value = getattr(shown, part)
        if not value or value == getattr(own, part) or (part == "client_id" and mac.replace(":", "") in value.replace(":", "")):
            continue
        for other, identity in known.items():
            if other != mac and getattr(identity, part) == value:
                return other, part
    return None


def borrowed_mac(mac: str, other: str, part: str, value: str, other_name: str, now: float) -> Alert:
    what = "DHCP client id" if part == "client_id" else "hostname"
    message = (f"Device {mac} appeared with the {what} {value!r} of {other_name} ({other}): "
               f"another device may be using its MAC address.")
    return Alert(BORROWED_MAC, mac, message, f"{BORROWED_MAC}:{mac}:{other}", now - now % DAY,
                 details={"other_mac": other, "part": part, "value": value},
                 params={"mac": mac, "other": other, "other_name": other_name, "part": part, "value": value})


def acted(alert: Alert, action: str, kbit: int | None) -> Alert:
    """An unusual-use alert that also says what was done: 'throttle' (at `kbit`), 'pause', or nothing else."""
    if action == "throttle":
        done = f" Slowed to {kbit} kbit/s for 1 hour."
    elif action == "pause":
        done = " Paused for 1 hour."
    else:
        return alert
    return replace(alert, message=alert.message + done, details={**alert.details, "action": action},
                   params={**alert.params, "done": action, "kbit": kbit})
