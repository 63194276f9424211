"""Why something was refused, said so that each reader can hear it in their own language.

An error's English sentence is what the API, the logs and the CLI say. A
page says it in the reader's language, so an error also carries a key and
the values that fill it in; the page's dictionary (serve/i18n.py) holds the
key's words per language and falls back to the English sentence where it
has none. Values may be reasons themselves ("size: <why the size is
wrong>"), said the same way in turn; a list is said as a list of the
reader's language ("a, b" or "甲、乙").
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class Reason(Exception):
    """An error whose English sentence is `english` filled in with `params`, and which a page can say by `key`."""

    def __init__(self, english: str, key: str | None = None, **params: object) -> None:
        shown = {name: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v for name, v in params.items()}
        super().__init__(english.format(**shown) if params else english)
        self.key = key
        self.params = params


class Refusal(Reason, ValueError):
    """A value refused: where a ValueError is expected, one a page can say in the reader's language."""


def tag(error: E, key: str, **params: object) -> E:
    """Give an error raised elsewhere (an HTTP error, say) the key and values a page says it by."""
    error.key, error.params = key, params  # type: ignore[attr-defined]
    return error
