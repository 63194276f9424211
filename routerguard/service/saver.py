"""The data saver and the category lists: blocked categories and one's own lists."""

from __future__ import annotations

from typing import Any

from routerguard.config.categories import domain_problem, shipped_ids
from routerguard.config.file import group_section
from routerguard.config.model import ID_RE
from routerguard.config import uci
from routerguard.service.common import Area, Conflict, Invalid, MAX_NAME, NotFound, check_name

MAX_DOMAINS = 256  # per category of one's own; the shipped lists have up to 32


class Saver(Area):
    """The saver and categories."""

    def saver(self) -> dict:
        """The categories blocked for everyone (`config saver`) and for each group's members (its `list block`)."""
        config = self.core.config
        return {"block": list(config.saver_block),
                "groups": {gid: list(group.block) for gid, group in sorted(config.groups.items())}}

    def set_saver(self, body: Any) -> dict:
        """Replace the everyone list and, for the groups `body["groups"]` names, theirs; one edit, in effect at once."""
        if not isinstance(body, dict) or "block" not in body:
            raise Invalid('the body must be a JSON object like {"block": ["video"]}')
        unknown = set(body) - {"block", "groups"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: block, groups")
        everyone = self._category_ids(body["block"], "block")
        groups = body.get("groups", {})
        if not isinstance(groups, dict):
            raise Invalid('groups must be an object like {"kids": ["video"]}')
        lists = {}
        for gid, categories in groups.items():
            if gid not in self.core.config.groups:
                raise Invalid(f"groups: no group {gid!r}; groups: {', '.join(self.core.config.groups) or 'none'}")
            lists[gid] = self._category_ids(categories, f"groups.{gid}")

        def change(package: uci.Package) -> None:
            first, *others = package.find("saver") or [package.add("saver", "saver")]
            first.set_list("block", everyone)
            for section in others:  # several sections add up; the list now lives in the first
                section.delete("block")
            for gid, categories in lists.items():
                group_section(package, gid).set_list("block", categories)

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.saver()

    def put_category(self, cid: str, body: Any) -> dict:
        """Add a category of one's own, or replace a list (a shipped one too): one `config category` section."""
        if not ID_RE.match(cid):
            raise Invalid("id: a category id is 1-32 letters, digits, '_' or '-'")
        if not isinstance(body, dict):
            raise Invalid('the body must be a JSON object like {"name": "Games", "domains": ["steamcontent.com"]}')
        unknown = set(body) - {"name", "domains"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: domains, name")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise Invalid(f"name must be a non-empty string of at most {MAX_NAME} characters")
        name = check_name(name)
        domains = self._domains(body.get("domains"))

        def change(package: uci.Package) -> None:
            first, *others = [s for s in package.find("category") if s.get("id") == cid] or [package.add("category")]
            for section in others:
                package.remove(section)
            first.set("id", cid)
            first.set("name", name.strip())
            first.set_list("domain", domains)

        self.core.config_file.edit(change)
        self.core.on_change()
        return next(c for c in self.categories() if c["id"] == cid)

    def delete_category(self, cid: str) -> None:
        """Remove a category of one's own; the block lists naming it lose it (the config would not be valid)."""
        if cid in shipped_ids():
            raise Conflict(f"{cid!r} is a shipped category and cannot be removed; PUT its domains to change it")
        if not any(c.id == cid for c in self.core.config.categories):
            raise NotFound(f"no category {cid!r} of one's own")

        def change(package: uci.Package) -> None:
            for section in package.find("category"):
                if section.get("id") == cid:
                    package.remove(section)
            for section in package.find("saver") + package.find("group") + package.find("device"):
                if cid in section.get_list("block"):
                    section.set_list("block", [c for c in section.get_list("block") if c != cid])

        self.core.config_file.edit(change)
        self.core.on_change()

    def _category_ids(self, value: Any, field: str) -> list[str]:
        """A block list: known category ids, each once, in the order given."""
        known = [c.id for c in self._catalog().categories]
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise Invalid(f"{field} must be a list of category ids; categories: {', '.join(known)}")
        for category in value:
            if category not in known:
                raise Invalid(f"{field}: no category {category!r}; categories: {', '.join(known)}")
        return list(dict.fromkeys(value))

    @staticmethod
    def _domains(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(d, str) for d in value) or not 1 <= len(value) <= MAX_DOMAINS:
            raise Invalid(f"domains must be a list of 1 to {MAX_DOMAINS} domain names")
        for domain in value:
            problem = domain_problem(domain)
            if problem:
                raise Invalid(f"domains: {problem}")
        return list(dict.fromkeys(d.lower() for d in value))
