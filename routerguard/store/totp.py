"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), as authenticator apps make them.

Twenty lines of the standard library rather than a dependency: RFC 4226's
truncation over an HMAC of the step number is all there is, and the tests
check it against the RFC's own vectors and against pyotp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
import struct
import time
from urllib.parse import quote, urlencode

STEP = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA1
WINDOW = 1  # steps either side accepted: a phone's clock a little off, a code typed as it changed


def new_secret() -> str:
    """A random secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(_random.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def code_at(secret: str, step: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP of step number `step`."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def valid_secret(secret: str) -> bool:
    """Whether `secret` is base32 of at least 80 bits (RFC 4226's least)."""
    try:
        return len(_key(secret)) >= 10
    except ValueError:
        return False


def step_of(moment: float) -> int:
    return int(moment // STEP)


def matching_step(secret: str, code: str, moment: float | None = None) -> int | None:
    """The step `code` belongs to, within WINDOW of `moment` (now); None when it matches none."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_of(time.time() if moment is None else moment)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def uri(secret: str, account: str, issuer: str = "routerguard") -> str:
    """The otpauth:// URI an authenticator app reads from the QR code (Google Authenticator's Key Uri Format)."""
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP})
    return f"otpauth://totp/{label}?{query}"
