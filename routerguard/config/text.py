"""Which characters a name may not hold: one rule for names from the API, the page and the UCI file."""

from __future__ import annotations

import unicodedata

# Line and paragraph breaks and the bidirectional overrides, beside the C0/C1 controls (category Cc): a
# name with them splits a log line, an alert or a UCI file's line, or shows reversed. Zero-width joiners
# stay allowed (emoji families).
NOT_IN_NAMES = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_controls(text: str) -> bool:
    """Whether `text` holds a line break, a control character or a bidirectional override."""
    return any(unicodedata.category(ch) == "Cc" or ch in NOT_IN_NAMES for ch in text)
