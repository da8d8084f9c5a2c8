"""Every reported position is exact, counted in characters, whatever text comes before it.

libyaml reports reader errors (NUL and other control characters) at a byte offset, while its
marks count characters; an error after multibyte text must still name the character's line and
column as an editor shows them. Errors about a node reached through an alias point at the alias.
"""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from factdeck.build import check
from factdeck.yamlload import value_position

PREFIXES = {
    "cjk": "日本語の薬",
    "emoji": "😀👍🏽 drug",
    "combining": "e\u0301te\u0301",  # é written as e + COMBINING ACUTE ACCENT: two characters each
    "mixed": "Ωμέγα 🧪 β-アドレナリン",
}


def _write(tmp_path, lines: list[str], newline: str = "\n", bom: bool = False, raw: bytes = b"") -> str:
    path = tmp_path / "deck.yaml"
    data = newline.join(lines).encode("utf-8") + raw
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return str(path)


def _positions(path: str) -> list[tuple[int, int, str]]:
    return [(d.line, d.col, d.code) for d in check([path]).diagnostics]


LAYOUTS = [
    pytest.param({}, id="lf"),
    pytest.param({"newline": "\r\n"}, id="crlf"),
    pytest.param({"bom": True}, id="bom"),
    pytest.param({"bom": True, "newline": "\r\n"}, id="bom-crlf"),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_character_in_the_file_is_located_in_characters(tmp_path, prefix, char, layout):
    lines = ["deck:", "  id: d", f"  name: {prefix}", "notes:", "  - id: a", f'    front: "{prefix}{char}"']
    path = _write(tmp_path, lines, **layout)
    col = len('    front: "') + len(prefix) + 1
    assert _positions(path) == [(6, col, "yaml-syntax")]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_invalid_utf8_byte_is_located_in_characters(tmp_path, prefix, layout):
    lines = ["deck:", "  id: d", f"  name: {prefix}", "notes:", "  - id: a", f"    front: {prefix} "]
    path = _write(tmp_path, lines, raw=b"\xff", **layout)
    col = len("    front: ") + len(prefix) + 2
    assert _positions(path) == [(6, col, "encoding")]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_syntax_and_validation_errors_after_multibyte_text_are_located_in_characters(
    tmp_path, prefix, layout
):
    lines = [
        "deck:",
        "  id: d",
        "  name: D",
        "notes:",
        f"  - {{id: a, front: {prefix}, back: {prefix}, frnt: x}}",
        f'  - {{id: b, front: "{prefix}\\x01", back: x}}',
        f"  - {{id: c, front: {prefix}, back: [{prefix}] x}}",
    ]
    path = _write(tmp_path, lines, **layout)
    unknown = len(f"  - {{id: a, front: {prefix}, back: {prefix}, ") + 1
    control = len("  - {id: b, front: ") + 1
    broken = len(f"  - {{id: c, front: {prefix}, back: [{prefix}] ") + 1
    assert _positions(path) == [(7, broken, "yaml-syntax")]
    lines[-1] = f"  - {{id: c, front: {prefix}, back: x}}"
    path = _write(tmp_path, lines, **layout)
    assert _positions(path) == [(5, unknown, "unknown-key"), (6, control, "control-character")]


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028"])
def test_lines_are_counted_as_yaml_counts_them(tmp_path, brk):
    """YAML also ends lines at CR, NEL and LS: a reader error is located on the same lines as a
    parser error."""
    text = f'deck:{brk}  id: d{brk}  name: 日本{brk}notes:{brk}  - id: a{brk}    front: "é\x00"{brk}'
    path = _write(tmp_path, [text])
    assert _positions(path) == [(6, len('    front: "é') + 1, "yaml-syntax")]


def test_note_reused_through_an_alias_is_reported_where_the_alias_stands(tmp_path):
    lines = [
        "deck: {id: d, name: D}",
        "notes:",
        "  - &n1",
        "    id: n1",
        "    front: q",
        "    back: a",
        "  - id: n2",
        "    front: q",
        "    back: a",
        "  - *n1",
    ]
    path = _write(tmp_path, lines)
    result = check([path])
    assert [d.format().split(": ", 1)[1] for d in result.diagnostics] == [
        "error: note id `n1` is used twice: lines 4 and 10 (line 10 repeats it through an alias)"
    ]
    assert (result.diagnostics[0].line, result.diagnostics[0].col) == (10, 5)


def test_broken_note_reused_through_an_alias_is_reported_once(tmp_path):
    lines = ["deck: {id: d, name: D}", "notes:", "  - &bad {id: b, front: x}", "  - *bad", "  - *bad"]
    path = _write(tmp_path, lines)
    assert [(d.line, d.code) for d in check([path]).diagnostics] == [(3, "missing-key")]


def test_wrong_type_through_an_alias_is_reported_at_the_alias(tmp_path):
    lines = [
        "deck: {id: d, name: D}",
        "tags: &list [a]",
        "notes:",
        "  - id: a",
        "    front: *list",
        "    back: x",
    ]
    path = _write(tmp_path, lines)
    assert _positions(path) == [(5, 12, "type")]


scalar_text = st.lists(st.sampled_from([*"ab {}#:'\"\\\t\n-é😀\r\xa0", "  ", "{{Q}}"]), max_size=30).map(
    "".join
)


@settings(max_examples=600, deadline=None)
@given(
    scalar_text,
    st.sampled_from([None, '"', "'", "|", ">"]),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(10, 60),
)
def test_each_character_of_a_scalar_is_located_where_it_is_written_or_not_at_all(
    value, style, newline, width
):
    """Whatever style and line width the emitter picks, value_position names the character
    itself (a backslash for an escape, the line break for a fold), in order, and gives up only
    where the file cannot tell (an explicit indentation indicator)."""
    doc = yaml.dump({"k": [{"front": value}]}, default_style=style, allow_unicode=True, width=width)
    doc = doc.replace("\n", newline)
    scalars = [e for e in yaml.parse(doc, Loader=yaml.CSafeLoader) if isinstance(e, yaml.ScalarEvent)]
    event = scalars[-1]
    assert event.value == value
    start = (event.start_mark.line + 1, event.start_mark.column + 1)
    lines = re.split(r"\r\n|[\r\n\x85\u2028\u2029]", doc)
    header = lines[start[0] - 1][start[1] - 1 :]
    uncertain = header[:1] in ("|", ">") and any(c.isdigit() for c in header[1:3])
    found = [value_position(doc, start, value, k) for k in range(len(value))]
    if uncertain:
        assert found == [None] * len(value)
        return
    assert None not in found, (doc, found)
    known = [(k, pos) for k, pos in enumerate(found) if pos is not None]
    assert [pos for _, pos in known] == sorted({pos for _, pos in known})  # in order, none twice
    for k, (line, col) in known:
        written = lines[line - 1][col - 1 : col] or "\n"  # past the end of its line: the break
        assert written == value[k] or written == "\\" or (written == "\n" and value[k] in " \n"), (doc, k)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_merge_keys_and_alias_keys_are_named_where_they_stand(tmp_path, layout):
    lines = [
        "deck: {id: d, name: D}",
        "notes:",
        "  - &n {id: n1, front: q, back: a}",
        "  - <<: *n",
        "    id: n2",
        "  - {id: n3, front: q, back: a, '<<': x}",
        "  - id: n4",
        "    front: q",
        "    back: a",
        "    *n : x",
        "  - {id: n5, front: q, back: a, ? *n : y}",
    ]
    result = check([_write(tmp_path, lines, **layout)])
    found = [(d.line, d.col, d.message) for d in result.diagnostics if d.code != "missing-key"]
    assert found == [
        (
            4,
            5,
            "merge key `<<` is not supported: write the keys out (YAML 1.2 has no merge keys, so tools "
            "disagree on what it means); quote it (`'<<'`) for a key named `<<`",
        ),
        (6, 33, "unknown key `<<` in a note"),
        (10, 5, "alias `*n` used as a mapping key; write the key out"),
        (11, 35, "alias `*n` used as a mapping key; write the key out"),
    ]
