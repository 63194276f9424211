"""The category lists shipped with routerguard (routerguard/data/categories.json).

They are configuration that comes with the package: the config model checks
`list block` against their ids, and the attribution builds its catalog from
them (merged with the config's own `config category` sections). Reading them
here keeps the config free of the data-flow packages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

DATA_FILE = "categories.json"
# A domain of a list: two or more labels of letters, digits and '-'. Anything else could break the dnsmasq
# snippet's `nftset=/domain/...` lines ('/', '#', a newline), and a single label ("com") would block a whole TLD.
DOMAIN_PATTERN = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
MAX_DOMAIN = 253  # DNS's longest name
_DOMAIN_RE = re.compile(DOMAIN_PATTERN)


def domain_problem(domain: str) -> str | None:
    """Why `domain` cannot be in a category's list, or None when it can."""
    if len(domain) > MAX_DOMAIN:
        return f"{domain[:40]!r}... is longer than {MAX_DOMAIN} characters"
    if not _DOMAIN_RE.fullmatch(domain):
        return f"{domain!r} is not a domain name like example.com (letters, digits and '-', at least two labels)"
    return None


@dataclass(frozen=True)
class CategoryList:
    """One category: its services, each with the domains that belong to it."""

    id: str
    name: str
    services: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def domains(self) -> list[str]:
        return sorted({domain for _, domains in self.services for domain in domains})


@lru_cache(maxsize=1)
def shipped() -> tuple[CategoryList, ...]:
    """The lists shipped inside the package (read once)."""
    data = json.loads(files("routerguard.data").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    return tuple(CategoryList(c["id"], c["name"], tuple((service, tuple(domains)) for service, domains in c["services"].items()))
                 for c in data["categories"])


def shipped_ids() -> set[str]:
    return {category.id for category in shipped()}
