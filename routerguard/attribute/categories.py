"""What a DNS name is: its service ("iCloud backup") and category ("cloud_backup").

The shipped lists (routerguard/data/categories.json, read by
routerguard.config.categories) name real services;
`config category` sections add a category or, with the same id, replace a
shipped one, so a traveller can fix a list on the router without an update.
A domain matches itself and its subdomains, and the longest match wins, so a
list may name both `apple.com` and `swcdn.apple.com`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, NamedTuple

from routerguard.config.categories import CategoryList, shipped
from routerguard.config.model import Category


class Match(NamedTuple):
    service: str
    category: str


def merged(configured: Iterable[Category]) -> tuple[CategoryList, ...]:
    """The shipped lists with the config's applied: a new id adds, a known id replaces.

    Domains from the config belong to a service named like their category.
    Several sections with one id add up.
    """
    own: dict[str, CategoryList] = {}
    for category in configured:
        before = own.get(category.id)
        domains = tuple(dict.fromkeys((before.services[0][1] if before else ()) + category.domains))
        name = before.name if before else category.name
        own[category.id] = CategoryList(category.id, name, ((name, domains),))
    result = [own.pop(category.id, category) for category in shipped()]
    return tuple(result + list(own.values()))


class Catalog:
    """Looks names up in a set of category lists."""

    def __init__(self, categories: tuple[CategoryList, ...]) -> None:
        self.categories = categories
        self._by_domain: dict[str, Match] = {}
        for category in categories:
            for service, domains in category.services:
                for domain in domains:
                    self._by_domain.setdefault(domain, Match(service, category.id))

    def classify(self, name: str) -> Match | None:
        """The service and category of a DNS name, by its longest listed suffix."""
        labels = name.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            found = self._by_domain.get(".".join(labels[i:]))
            if found:
                return found
        return None

    def get(self, category_id: str) -> CategoryList | None:
        return next((c for c in self.categories if c.id == category_id), None)


@lru_cache(maxsize=4)
def catalog(configured: tuple[Category, ...]) -> Catalog:
    """The catalog for a config's categories (cached: configs are immutable and reloads rare)."""
    return Catalog(merged(configured))
