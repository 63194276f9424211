"""Guarding the guard's pure decisions: new devices, borrowed MACs, what unusual use does, held throttles."""

from routerguard.decide import guard
from routerguard.decide.alerts import Alert
from routerguard.decide.guard import Identity
from routerguard.decide.policy import BLOCKED, OK, THROTTLED, Limit, decide

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
KNOWN = {A: Identity("01:02:00:00:00:00:0a", "laptop"), B: Identity("ff:aa:bb", "kid-phone")}


def test_a_new_device_alert_names_the_mac_hostname_and_first_address():
    alert = guard.new_device(A, "laptop", "192.168.8.150")
    assert (alert.kind, alert.mac, alert.scope) == ("new_device", A, f"new_device:{A}")
    assert alert.message == f"New device {A} (laptop) at 192.168.8.150 joined the network."
    assert alert.details == {"hostname": "laptop", "address": "192.168.8.150"}


def test_a_mac_showing_anothers_hostname_or_client_id_is_borrowed():
    assert guard.borrowed_from(A, Identity(None, "kid-phone"), KNOWN) == (B, "hostname")
    assert guard.borrowed_from(C, Identity("ff:aa:bb", None), KNOWN) == (B, "client_id")


def test_its_own_identity_a_new_one_or_a_client_id_made_of_the_mac_is_not_borrowed():
    assert guard.borrowed_from(A, KNOWN[A], KNOWN) is None
    assert guard.borrowed_from(A, Identity(None, "new-name"), KNOWN) is None
    known = {**KNOWN, C: Identity("01:02:00:00:00:00:0c", None)}
    assert guard.borrowed_from(C, Identity("01:02:00:00:00:00:0c", None), known) is None


def test_an_identity_keeps_what_its_mac_first_gave():
    assert Identity(None, "laptop").merged(Identity("01:aa", "other")) == Identity("01:aa", "laptop")


def test_a_borrowed_mac_alert_is_told_once_a_day_per_pair():
    alert = guard.borrowed_mac(A, B, "hostname", "kid-phone", "Kid phone", 86400 * 3 + 5)
    assert alert.scope == f"borrowed_mac:{A}:{B}" and alert.period == 86400 * 3
    assert "hostname 'kid-phone' of Kid phone" in alert.message


def test_unusual_use_says_what_was_done():
    alert = Alert("unusual_rate", A, "A moved 20 MB.", "s", 0.0, params={"name": "A"})
    assert guard.acted(alert, "notify", None) is alert
    slowed = guard.acted(alert, "throttle", 256)
    assert slowed.message == "A moved 20 MB. Slowed to 256 kbit/s for 1 hour."
    assert slowed.params["done"] == "throttle" and slowed.details["action"] == "throttle"
    assert guard.acted(alert, "pause", None).message.endswith("Paused for 1 hour.")


def test_a_held_throttle_slows_a_device_unless_something_stricter_holds():
    fine = Limit("device", 100, 10, "block")
    assert decide([fine], held_kbit=256).state == THROTTLED and decide([fine], held_kbit=256).throttle_kbit == 256
    assert decide([fine], blocked=True, held_kbit=256).state == BLOCKED
    slow = Limit("device", 100, 100, "throttle", throttle_kbit=128)
    assert decide([slow], held_kbit=256).throttle_kbit == 128
    assert decide([slow], held_kbit=64).throttle_kbit == 64
    assert decide([fine]).state == OK
