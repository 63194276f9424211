"""A small reader and writer of UCI files (OpenWrt's /etc/config/* format).

libuci's bindings are not on ordinary machines, so this is our own. It keeps
what the user wrote: comments, blank lines, order and the spelling of lines
we did not change, so that an edit from the page reads like a hand edit in
`uci` and LuCI. Writes are atomic: a power cut leaves the old file or the new
one, never half of each.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Iterator, Union

NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
TYPE_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class UciSyntaxError(ValueError):
    """The text is not UCI; says where and what was expected."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


END_OF_LINE = "\n"
SEPARATOR = ";"  # ends a statement and starts the next on the same line


@dataclass
class Raw:
    """A blank or comment line, kept verbatim."""

    text: str
    end: str = END_OF_LINE  # what ended the source text: a newline or ';'


@dataclass
class Option:
    """`option NAME VALUE` (or, with `is_list`, one `list NAME VALUE` line)."""

    name: str
    value: str
    is_list: bool = False
    line: int = 0
    raw: str | None = None  # the source text while unchanged
    end: str = END_OF_LINE


Item = Union[Raw, Option]


@dataclass
class Section:
    """`config TYPE ['NAME']` and the lines that follow it."""

    type: str
    name: str | None = None
    body: list[Item] = field(default_factory=list)
    line: int = 0
    raw: str | None = None
    end: str = END_OF_LINE

    def options(self) -> Iterator[Option]:
        return (item for item in self.body if isinstance(item, Option))

    def get(self, name: str) -> str | None:
        """The value of `option NAME`, or None."""
        for opt in self.options():
            if opt.name == name and not opt.is_list:
                return opt.value
        return None

    def get_list(self, name: str) -> list[str]:
        """The values of `list NAME` (an `option NAME` counts as a one-item list, as in libuci)."""
        return [opt.value for opt in self.options() if opt.name == name]

    def line_of(self, name: str) -> int:
        """The line `name` is on, or the section's own line when absent: for error messages."""
        return next((opt.line for opt in self.options() if opt.name == name), self.line)

    def names(self) -> list[str]:
        """Option and list names in order of first appearance."""
        return list(dict.fromkeys(opt.name for opt in self.options()))

    def set(self, name: str, value: str) -> None:
        """Set `option NAME`, in place when it exists (the user's order stays)."""
        _check_name(name, "option name")
        at = self._remove(name)
        self.body.insert(at, Option(name, str(value)))

    def set_list(self, name: str, values: list[str]) -> None:
        """Replace every `list NAME` line with `values`, at the place of the first."""
        _check_name(name, "option name")
        at = self._remove(name)
        self.body[at:at] = [Option(name, str(v), is_list=True) for v in values]

    def delete(self, name: str) -> None:
        self._remove(name)

    def _remove(self, name: str) -> int:
        """Drop NAME's lines; returns where they were (or after the last option)."""
        first = None
        kept: list[Item] = []
        for item in self.body:
            if isinstance(item, Option) and item.name == name:
                first = len(kept) if first is None else first
                continue
            kept.append(item)
        self.body = kept
        if first is not None:
            return first
        last_option = max((i for i, item in enumerate(kept) if isinstance(item, Option)), default=-1)
        return last_option + 1

    def same_content(self, other: "Section") -> bool:
        return (self.type, self.name, _content(self)) == (other.type, other.name, _content(other))


def _content(section: Section) -> list[tuple[str, str, bool]]:
    return [(o.name, o.value, o.is_list) for o in section.options()]


@dataclass
class Package:
    """A whole UCI file: the lines before the first section, then the sections."""

    preamble: list[Item] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def find(self, type_: str, name: str | None = None) -> list[Section]:
        return [s for s in self.sections if s.type == type_ and (name is None or s.name == name)]

    def first(self, type_: str, name: str | None = None) -> Section | None:
        found = self.find(type_, name)
        return found[0] if found else None

    def add(self, type_: str, name: str | None = None) -> Section:
        """Append a section, after a blank line like a hand-written file."""
        if not TYPE_RE.match(type_):
            raise ValueError(f"section type {type_!r}: use letters, digits, '_' and '-'")
        if name is not None:
            _check_name(name, "section name")
        if self.sections and not _ends_blank(self.sections[-1]):
            self.sections[-1].body.append(Raw(""))
        section = Section(type_, name)
        self.sections.append(section)
        return section

    def remove(self, section: Section) -> None:
        self.sections = [s for s in self.sections if s is not section]

    def label(self, section: Section) -> str:
        """How `uci` names a section: its name, or `@type[i]` when anonymous."""
        if section.name is not None:
            return section.name
        same = [s for s in self.sections if s.type == section.type]
        index = next(i for i, s in enumerate(same) if s is section)
        return f"@{section.type}[{index}]"


def _ends_blank(section: Section) -> bool:
    return bool(section.body) and isinstance(section.body[-1], Raw) and not section.body[-1].text.strip()


def _check_name(name: str, what: str) -> None:
    if not NAME_RE.match(name or ""):
        raise ValueError(f"{what} {name!r}: use only letters, digits and '_'")


# --- reading -----------------------------------------------------------------


@dataclass
class _Statement:
    words: list[str]
    line: int
    text: str  # source text, comments included
    end: str  # END_OF_LINE or SEPARATOR


def _statements(text: str, path: str) -> Iterator[_Statement]:
    """Split UCI text into statements of words, honouring quotes, escapes and comments."""
    i, n, line = 0, len(text), 1
    while i <= n:
        start, start_line = i, line
        words: list[str] = []
        word: list[str] | None = None
        while i < n:
            c = text[i]
            if c == "\n":
                break
            if c in " \t\r" and word is None:
                i += 1
                continue
            if c in " \t\r":
                words.append("".join(word or []))
                word = None
                i += 1
                continue
            if c == "#" and word is None:
                while i < n and text[i] != "\n":
                    i += 1
                break
            if c == ";" and word is None:
                break
            word = word if word is not None else []
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise UciSyntaxError(path, line, "unterminated single quote: add the closing '")
                chunk = text[i + 1 : end]
                line += chunk.count("\n")
                word.append(chunk)
                i = end + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise UciSyntaxError(path, line, 'unterminated double quote: add the closing "')
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\" and i + 1 < n:
                        i += 1
                        c = text[i]
                    line += c == "\n"
                    word.append(c)
                    i += 1
            elif c == "\\":
                if i + 1 < n and text[i + 1] == "\n":
                    line += 1
                    i += 2
                    continue
                if i + 1 < n:
                    word.append(text[i + 1])
                i += 2
            else:
                word.append(c)
                i += 1
        if word is not None:
            words.append("".join(word))
        end = i
        separated = i < n and text[i] == SEPARATOR
        i += 1
        line += not separated
        if end >= n and start >= n and not words:
            return
        yield _Statement(words, start_line, text[start:end], SEPARATOR if separated else END_OF_LINE)


def parse(text: str, path: str = "<config>") -> Package:
    """Parse UCI text. Raises UciSyntaxError naming the line on bad input."""
    package = Package()
    current: Section | None = None
    for st in _statements(text, path):
        target = current.body if current else package.preamble
        if not st.words:
            target.append(Raw(st.text, st.end))
            continue
        keyword, args = st.words[0], st.words[1:]
        if keyword == "package":
            target.append(Raw(st.text, st.end))
        elif keyword == "config":
            if not 1 <= len(args) <= 2:
                raise UciSyntaxError(path, st.line, "write `config TYPE` or `config TYPE 'name'`")
            if not TYPE_RE.match(args[0]):
                raise UciSyntaxError(path, st.line, f"section type {args[0]!r}: use letters, digits, '_' and '-'")
            if len(args) == 2 and not NAME_RE.match(args[1]):
                raise UciSyntaxError(path, st.line, f"section name {args[1]!r}: use only letters, digits and '_'")
            current = Section(args[0], args[1] if len(args) == 2 else None, line=st.line, raw=st.text, end=st.end)
            package.sections.append(current)
        elif keyword in ("option", "list"):
            if current is None:
                raise UciSyntaxError(path, st.line, f"`{keyword}` before any `config` line: start a section first")
            if len(args) != 2:
                raise UciSyntaxError(path, st.line, f"write `{keyword} NAME 'value'` (quote values with spaces)")
            if not NAME_RE.match(args[0]):
                raise UciSyntaxError(path, st.line, f"option name {args[0]!r}: use only letters, digits and '_'")
            current.body.append(Option(args[0], args[1], keyword == "list", st.line, st.text, st.end))
        else:
            raise UciSyntaxError(path, st.line, f"unknown keyword {keyword!r}: expected config, option or list")
    return package


def read(path: str) -> Package:
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), path)


# --- writing -----------------------------------------------------------------


def quote(value: str) -> str:
    """Single-quote a value the way `uci export` does ('\\'' for a quote)."""
    return "'" + value.replace("'", "'\\''") + "'"


def _item_text(item: Item) -> str:
    """The item's line; source text keeps what ended it (a ';' leaves the line to the next one)."""
    if isinstance(item, Raw):
        return item.text + item.end
    if item.raw is not None:
        return item.raw + item.end
    return f"\t{'list' if item.is_list else 'option'} {item.name} {quote(item.value)}{END_OF_LINE}"


def dumps(package: Package) -> str:
    """The text of `package`: unchanged lines as written, changed ones in uci's style."""
    parts = [_item_text(item) for item in package.preamble]
    for section in package.sections:
        if section.raw is not None:
            parts.append(section.raw + section.end)
        else:
            parts.append(f"config {section.type}" + (f" {quote(section.name)}" if section.name else "") + END_OF_LINE)
        parts.extend(_item_text(item) for item in section.body)
    return "".join(parts)


def write_atomic(path: str, text: str, mode: int | None = None) -> None:
    """Replace `path` with `text` so that a crash or a power cut leaves the old or the new file, whole.

    The new file is fsynced before the rename and the directory after it,
    so the rename itself survives a cut. `mode`: the file's permissions
    (default: those of the file it replaces, 0600 for a new one).
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".routerguard-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            try:
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
