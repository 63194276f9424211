"""The UCI reader and writer: syntax, round trips, comments kept, atomic writes."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.config import uci

SAMPLE = """# routerguard's config
package routerguard

config routerguard 'main'
\toption lan_if 'br-lan'          # interface the LAN clients are on
\tlist wan_if 'wwan0'
\tlist wan_if wwan1
\toption listen "192.168.8.1:8080"

# a family
config group
\toption id 'zhang'
\toption name 'Zhang family'
\toption note 'it'\\''s "quoted"'

config device
\toption mac '02:00:00:00:00:0a'
"""


def test_parse_reads_named_and_anonymous_sections_options_and_lists():
    package = uci.parse(SAMPLE)
    main, group, device = package.sections
    assert (main.type, main.name) == ("routerguard", "main")
    assert main.get("lan_if") == "br-lan"
    assert main.get_list("wan_if") == ["wwan0", "wwan1"]
    assert main.get("listen") == "192.168.8.1:8080"
    assert group.name is None and group.get("name") == "Zhang family"
    assert group.get("note") == "it's \"quoted\""
    assert package.label(device) == "@device[0]"


def test_unchanged_text_is_written_back_byte_for_byte():
    assert uci.dumps(uci.parse(SAMPLE)) == SAMPLE


def test_an_edit_keeps_comments_order_and_untouched_lines():
    package = uci.parse(SAMPLE)
    group = package.sections[1]
    group.set("name", "Zhang & co")
    group.set("cap", "5GB")
    text = uci.dumps(package)
    assert "# a family\n" in text and "# interface the LAN clients are on" in text
    assert "\toption name 'Zhang & co'\n" in text
    assert text.index("option id 'zhang'") < text.index("option name") < text.index("option cap '5GB'") < text.index("config device")


def test_set_list_replaces_in_place():
    package = uci.parse(SAMPLE)
    main = package.sections[0]
    main.set_list("wan_if", ["a", "b", "c"])
    assert main.get_list("wan_if") == ["a", "b", "c"]
    assert uci.dumps(package).index("list wan_if 'a'") < uci.dumps(package).index("option listen")


def test_escapes_and_multiline_values():
    package = uci.parse("config x 'y'\n\toption a \"line1\nline2\"\n\toption b one\\ word\n\toption c 'a'\"b\"c\n")
    section = package.sections[0]
    assert section.get("a") == "line1\nline2"
    assert section.get("b") == "one word"
    assert section.get("c") == "abc"


# Found by bench/fuzz.py uci: ';' ends a statement, and the next one on the same
# line was written back on a line of its own.
@pytest.mark.parametrize("text", [
    ";# routerguard\nconfig a\n",
    "config x 'y' ; option a 'b' ;option c d\n\tlist e f;\n",
    "config a ;\n",
])
def test_statements_separated_by_semicolons_are_written_back_as_they_were(text):
    package = uci.parse(text)
    assert uci.dumps(package) == text
    package.sections[0].set("g", "h")
    assert uci.parse(uci.dumps(package)).sections[0].get("g") == "h"


@pytest.mark.parametrize("text,message", [
    ("option a 'b'\n", "before any `config`"),
    ("config x 'y'\n\toption a 'b\n", "unterminated single quote"),
    ("config x 'bad name'\n", "section name"),
    ("config x\n\toption a\n", "option NAME"),
    ("config x\n\tfrobnicate a b\n", "unknown keyword"),
    ("config x\n\toption a-b c\n", "option name"),
])
def test_syntax_errors_name_the_line(text, message):
    with pytest.raises(uci.UciSyntaxError, match=message) as info:
        uci.parse(text, "/etc/config/routerguard")
    assert str(info.value).startswith("/etc/config/routerguard:")


def test_error_line_numbers_count_multiline_values():
    with pytest.raises(uci.UciSyntaxError) as info:
        uci.parse("config x\n\toption a 'one\ntwo'\n\tbogus\n")
    assert info.value.line == 4


def test_write_atomic_replaces_whole_and_keeps_mode(tmp_path):
    path = tmp_path / "routerguard"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    uci.write_atomic(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["routerguard"]


names = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
types = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
options = st.lists(st.tuples(names, values, st.booleans()), max_size=6)
sections = st.lists(st.tuples(types, st.one_of(st.none(), names), options), max_size=6)


def _build(model) -> uci.Package:
    package = uci.Package()
    for type_, name, opts in model:
        section = package.add(type_, name)
        for opt_name, value, is_list in opts:
            section.body.append(uci.Option(opt_name, value, is_list))
    return package


def _content(package: uci.Package):
    return [(s.type, s.name, [(o.name, o.value, o.is_list) for o in s.options()]) for s in package.sections]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(sections)
def test_parse_of_write_is_identity(model):
    package = _build(model)
    assert _content(uci.parse(uci.dumps(package))) == _content(package)


@settings(max_examples=200, deadline=None)
@given(sections, st.lists(st.sampled_from(["# note", "", "   # indented note"]), max_size=3))
def test_writing_a_parsed_file_is_stable(model, comments):
    text = "\n".join(comments) + "\n" + uci.dumps(_build(model)) if comments else uci.dumps(_build(model))
    once = uci.dumps(uci.parse(text))
    assert uci.dumps(uci.parse(once)) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parser_never_fails_other_than_with_a_syntax_error(text):
    try:
        uci.parse(text)
    except uci.UciSyntaxError:
        pass
