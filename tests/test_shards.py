"""The two-core read of large files gives exactly what the one-pass read gives, errors included."""

from __future__ import annotations

import itertools
import os
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factdeck import build, history, shards
from factdeck.ankifiles.rows import checksum, sort_field
from test_properties import deck_structure


def _deck(notes: str, tail: str = "") -> str:
    return (
        "deck:\n  id: big\n  name: Big\ntags: [t]\nsources:\n  s1:\n    title: One\n"
        "    url: https://example.org/1\nnotes:\n" + notes + tail
    )


def _notes(n: int, broken: bool) -> str:
    out = []
    for i in range(n):
        if i % 2:
            out.append(
                f'  - id: n{i}\n    text: "Fact {i} is {{{{c1::**bold {i}**}}}} and {{{{c2::x}}}}"\n'
                f"    sources: [s1]\n"
            )
        else:
            out.append(
                f"  - id: n{i}\n    front: Question {i}?\n    back: |\n      Answer {i}\n      - not an item\n"
                f"    tags: [k{i % 3}]\n    sources: [s1]\n"
            )
    if broken:
        out[3] = "  - id: n3\n    frnt: oops\n    back: b\n"
        out[150] = out[150].replace("sources: [s1]", "sources: [s2]")
        out[170] = "  - id: n1\n    front: dup\n    back: dup\n"  # duplicate of a note in the first half
        out[180] = '  - id: n180\n    text: "{{c0::zero}}"\n'
    return "".join(out)


def _content(notes):
    """The notes without the history tokens and notes rows' checksums the two-core read makes early; those
    must be what the lock and the package would make of the notes anyway."""
    for note in notes:
        assert note.first in ("", history.first_token(note.notetype.key, note.flds, note.tags))
        assert note.csum in (None, checksum(sort_field(note.flds)))
    return [note._replace(first="", csum=None) for note in notes]


def _compare(path, monkeypatch):
    """Two pieces, one piece (header first), and the one-pass read all agree."""
    monkeypatch.setattr(shards, "MIN_BYTES", 0)
    two = build.check([str(path)])
    monkeypatch.setattr(shards, "available", lambda: False)
    one = build.check([str(path)])

    def refuse(*args):
        raise shards.Fallback

    monkeypatch.setattr(shards, "compile_file", refuse)
    plain = build.check([str(path)])
    for other in (two, one):
        assert [d.format() for d in other.diagnostics] == [d.format() for d in plain.diagnostics]
        assert [_content(d.notes) for d in other.decks] == [_content(d.notes) for d in plain.decks]
        assert [d.description for d in other.decks] == [d.description for d in plain.decks]
    return two


@pytest.mark.parametrize("broken", [False, True])
def test_sharded_read_equals_one_pass_read(tmp_path, monkeypatch, broken):
    path = tmp_path / "big.yaml"
    path.write_text(_deck(_notes(200, broken), tail="# trailing comment\n"))
    shards.compile_file(str(path), path.read_text())  # really takes the two-core path
    result = _compare(path, monkeypatch)
    assert bool(result.errors) == broken
    if broken:
        assert any("used twice: lines" in d.message for d in result.errors)


def test_sources_after_the_notes_and_aliases_across_halves_still_match(tmp_path, monkeypatch):
    notes = _notes(200, False).replace("    tags: [k0]\n", "    tags: &shared [k0]\n", 1)
    notes += "  - id: last\n    front: q\n    back: a\n    tags: *shared\n"
    path = tmp_path / "big.yaml"
    path.write_text(_deck(notes, tail="version: 1\n"))
    with pytest.raises(shards.Fallback):  # the alias points into the other half
        shards.compile_file(str(path), path.read_text())
    _compare(path, monkeypatch)


def test_split_keeps_every_line_where_it_was():
    text = _deck(_notes(40, False))
    cut = shards.split(text, 2)
    header, docs = cut.header, cut.pieces
    assert len(docs) == 2
    assert header.count("\n") == text.count("\n")
    lines = text.split("\n")
    for piece in docs:
        first_line = piece[0]
        doc_lines = shards.piece_document(text, piece).split("\n")
        assert doc_lines[first_line] == lines[first_line] and doc_lines[first_line].startswith("  - id:")


@pytest.mark.parametrize(
    "text",
    [
        "notes:\n  - id: a\n\r\n",  # CRLF
        "deck: {id: a, name: A}\nnotes: [ {id: a, front: q, back: a} ]\n",  # flow style
        "notes:\n\n  - id: a\nnotes:\n  - id: b\n",  # two lists
    ],
)
def test_unusual_layouts_fall_back_to_the_one_pass_read(text):
    with pytest.raises(shards.Fallback):
        shards.split(text, 2)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(structure=deck_structure, pieces=st.integers(1, 3))
def test_header_first_read_equals_one_pass_read_on_generated_decks(tmp_path_factory, structure, pieces):
    path = tmp_path_factory.mktemp("gen") / "deck.yaml"
    path.write_text(yaml.safe_dump(structure, allow_unicode=True, default_flow_style=False, sort_keys=False))
    text = path.read_text()
    try:
        fast = shards.compile_file(str(path), text, pieces)
    except shards.Fallback:
        return
    out_plain = _one_pass(path)
    assert sorted(d.format() for d in fast[1]) == sorted(d.format() for d in out_plain[1])
    assert (_content(fast[0].notes) if fast[0] else None) == (
        _content(out_plain[0].notes) if out_plain[0] else None
    )


def _one_pass(path):
    from factdeck.assemble import assemble
    from factdeck.diagnostics import Collector
    from factdeck.validate import NoteReader, validate
    from factdeck.yamlload import load

    out = Collector(str(path))
    reader = NoteReader(out)
    deck = validate(load(path.read_text(), out, on_note=reader), str(path), out, reader)
    return (assemble(deck, out) if deck else None), out.items


def test_yaml_error_in_the_first_piece_falls_back_and_reaps_the_child(tmp_path, monkeypatch):
    notes = _notes(200, False)
    notes = notes.replace("  - id: n2\n", '  - id: n2\n    front: "unclosed\n', 1)
    path = tmp_path / "big.yaml"
    path.write_text(_deck(notes))
    with pytest.raises(shards.Fallback):
        shards.compile_file(str(path), path.read_text(), 2)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind
    _compare(path, monkeypatch)


# --- the cut must agree with the parser, whatever the scalars, comments and collections hold ---

# Lines that look like a place to cut: a `notes:` key, list items at the indentations used below,
# a document marker; put inside quoted scalars, block scalars, comments and flow collections.
ITEM_LINES = ["- id: trap", "  - id: trap", "- ", "  -", "  - x: y", "#x", "", "  # - id: c"]
TRAP_LINES = ITEM_LINES * 6 + ["notes:", "notes: # x", "...", "---"]
trap_lines = st.lists(st.sampled_from(TRAP_LINES), min_size=1, max_size=4)


def _quoted(lines: list[str], quote: str) -> str:
    body = "\n".join(lines).replace(quote, "")
    return f"{quote}x\n{body}\ny{quote}"  # continuation lines may start at column 0 in libyaml


def _block(lines: list[str], indent: str, style: str) -> str:
    return style + "\n" + "\n".join(f"{indent}  {line}" if line else "" for line in lines)


@st.composite
def trap_value(draw, indent: str) -> str:
    """A field value (written after `key: `) whose text holds cut-looking lines."""
    lines = draw(trap_lines)
    kinds = ["plain", "dq", "sq", "block", "folded", "keep", "flow", "alias"]
    kind = draw(st.sampled_from(kinds[:-1] * 3 + kinds[-1:]))
    if kind == "dq":
        return _quoted(lines, '"')
    if kind == "sq":
        return _quoted(lines, "'")
    if kind in ("block", "folded", "keep"):
        return _block(lines, indent, {"block": "|", "folded": ">", "keep": "|+"}[kind])
    if kind == "flow":
        return "[a,\n" + ",\n".join(f"{indent}  '{line}'" for line in lines) + "]"
    if kind == "alias":
        return draw(st.sampled_from(["&a1 anchored", "*a1", "&a2 [x]", "*a2"]))
    return draw(st.sampled_from(["plain text", "{{c1::a}} b", "{\\{c2::b\\}\\}", "x # not a comment"]))


@st.composite
def trap_deck(draw) -> str:
    indent = draw(st.sampled_from(["", "  "]))  # of the notes list's `-`
    head = []
    if draw(st.integers(0, 5)) == 0:
        head.append(draw(st.sampled_from(["%TAG !! tag:example.com,2000:", "%YAML 1.1", "# notes:"])))
        head.append("---")
    description = draw(trap_value("  "))
    head += ["deck:", "  id: d", "  name: D", f"  description: {description}"]
    head += ["sources:", "  s1:", f"    title: {draw(trap_value('    '))}"]
    if draw(st.booleans()):
        head.append("tags: [t,\nnotes: x]" if draw(st.booleans()) else "tags: [t]")
    notes_key = draw(st.sampled_from(["notes:"] * 4 + ["notes:  # the notes", '"notes":', "notes: ["]))
    items = []
    for i in range(draw(st.integers(1, 8))):
        field = draw(st.sampled_from(["front", "back", "extra", "text"]))
        item = [f"{indent}- id: n{i % 6}", f"{indent}  {field}: {draw(trap_value(indent + '  '))}"]
        if field != "text":
            item += [f"{indent}  front: q{i}", f"{indent}  back: a"] if field == "extra" else []
            item += (
                [f"{indent}  back: b"] if field == "front" else [f"{indent}  front: f"] * (field == "back")
            )
        item.append(f"{indent}  sources: [s1]")
        if draw(st.integers(0, 3)) == 0:  # explicit guids repeat across notes and pieces
            item.append(f"{indent}  guid: g{draw(st.integers(0, 2))}")
        if draw(st.booleans()):
            item.insert(1, draw(st.sampled_from([f"{indent}# - id: c", "# notes:", f"{indent}  # x", ""])))
        items += item
    if notes_key == "notes: [":
        body = ["notes: [{id: f1, front: q, back: a},", *(f"  # {line}" for line in items), "]"]
    else:
        body = [notes_key, *items]
    tail = draw(st.sampled_from(["", "", "version: '1'", "# end", "...", "- stray", "  x: y", "tags: *a2"]))
    return "\n".join([*head, *body, tail]) + draw(st.sampled_from(["\n", "", "\n\n"]))


def _same_read(path: str, text: str, pieces: int) -> bool:
    """Compare the header-first read (if it takes the file) with the one-pass read; True when
    the fast path was taken."""
    try:
        fast, fast_diags = shards.compile_file(path, text, pieces)
    except shards.Fallback:
        return False
    plain, plain_diags = build.compile_one_pass(path, text)
    assert sorted(d.format() for d in fast_diags) == sorted(d.format() for d in plain_diags)
    assert (fast is None) == (plain is None)
    if fast is not None and plain is not None:
        assert fast.deck == plain.deck
        assert _content(fast.notes) == _content(plain.notes)
        assert [n.fields for n in fast.notes] == [n.fields for n in plain.notes]
        assert fast.description == plain.description
        assert fast.media == plain.media
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=trap_deck(), pieces=st.integers(1, 3))
def test_cut_lines_inside_scalars_comments_and_flow_never_change_the_deck(tmp_path_factory, text, pieces):
    path = str(tmp_path_factory.mktemp("trap") / "deck.yaml")
    _same_read(path, text, pieces)


DESCRIPTION_ATTACK = """\
deck:
  id: d
  name: D
  description: "An innocent description
notes:
  - id: fake
    front: invented
    back: invented
"
notes: [{id: real, front: q, back: a}]
"""


@pytest.mark.parametrize("pieces", [1, 2])
@pytest.mark.parametrize(
    "text",
    [
        DESCRIPTION_ATTACK,
        DESCRIPTION_ATTACK.replace('"', "'"),
        DESCRIPTION_ATTACK.replace("  description:", "sources:\n  s:\n    title:"),
        # the real list is flow style and spans lines; the fake `notes:` hides in a flow mapping
        "deck: {id: d, name: D,\nnotes:\n  - id: fake\n    front: x\n    back: y\n}\n"
        "notes: [{id: real, front: q, back: a}]\n",
        # a quoted scalar holds a line that looks like the next item, at the list's indentation
        'deck: {id: d, name: D}\nnotes:\n  - id: a\n    front: q\n    back: "x\n  - id: fake\n'
        '    front: f\n    back: b"\n  - id: b\n    front: q\n    back: a\n',
        # a document end marker inside the list: the rest is not part of the deck at all
        "deck: {id: d, name: D}\nnotes:\n  - id: a\n    front: q\n    back: a\n...\n  - id: b\n",
        # %TAG changes what `!!str` means in the notes, which a piece would not know
        "%TAG !! tag:example.com,2000:\n---\ndeck: {id: d, name: D}\nnotes:\n  - id: a\n"
        "    front: !!str q\n    back: a\n",
        # the same anchor name in the header and in a note: `*n` after the notes is the note's
        "deck: {id: d, name: &n Deck}\ntags: [t]\nnotes:\n  - id: a\n    front: &n X\n"
        "    back: a\n  - id: b\n    front: q\n    back: a\nsources: {s: {title: *n}}\n",
    ],
)
def test_text_that_only_looks_like_the_notes_list_never_becomes_notes(tmp_path, text, pieces):
    path = str(tmp_path / "deck.yaml")
    _same_read(path, text, pieces)
    built = build.compile_one_pass(path, text)[0]
    assert built is None or "fake" not in [n.id for n in built.notes]


def test_an_ordinary_large_deck_still_takes_the_fast_path(tmp_path):
    text = _deck(_notes(200, False), tail="version: '1'\n")
    assert _same_read(str(tmp_path / "big.yaml"), text, 2)
    assert _same_read(str(tmp_path / "big.yaml"), text.replace("\n  ", "\n"), 2)  # indentless list


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_a_repeated_note_in_another_piece_reports_what_the_one_pass_read_reports(tmp_path, pieces):
    """The one-pass read drops a repeated id before its cloze and citation checks; so do the pieces."""
    notes = "".join(f"  - id: n{i}\n    front: a\n    back: b\n" for i in range(6))
    text = (
        "deck:\n  id: d\n  name: D\nnotes:\n"
        + notes
        + "  - id: n0\n    text: no cloze here\n    sources: [nowhere]\n"
    )
    path = tmp_path / "deck.yaml"
    path.write_text(text)
    assert _same_read(str(path), text, pieces)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["notes:", "\n", " ", "\t", "#", "x", "-", "\nnotes:", "\r"]), max_size=30))
def test_notes_lines_are_the_lines_a_multiline_regex_finds(parts):
    text = "".join(parts)
    expected = [m.span() for m in re.finditer(r"^notes:[ \t]*(?:#.*)?$", text, re.M)]
    assert [m.span() for m in shards._notes_lines(text)] == expected


def test_media_folder_files_named_in_either_half_are_bundled_as_in_the_one_pass_read(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    for name in ("first.png", "second.png", "_font.woff", "unused.png"):
        (tmp_path / "m" / name).write_bytes(name.encode())
    notes = _notes(200, False).replace("Question 2?", '<img src="first.png">', 1)
    notes = notes.replace("Question 190?", '<img src="second.png">', 1)
    path = tmp_path / "big.yaml"
    path.write_text(_deck(notes).replace("  name: Big\n", "  name: Big\n  media: m\n"))
    shards.compile_file(str(path), path.read_text())  # really takes the two-core path
    two = _compare(path, monkeypatch)
    monkeypatch.setattr(shards, "available", lambda: False)
    one = build.check([str(path)])
    assert (
        sorted(two.decks[0].media) == sorted(one.decks[0].media) == ["_font.woff", "first.png", "second.png"]
    )
    assert [d.message.split(" is left")[0] for d in two.diagnostics] == ["media file `unused.png`"]


# --- checks that need every note: done once, in file order, as the one-pass read does them ---


def _numbered(n: int, extra: dict[int, str]) -> str:
    """n basic notes; ``extra[i]`` replaces note i's id line (to repeat ids, add a guid)."""
    return "".join(extra.get(i, f"  - id: n{i}\n") + "    front: a\n    back: b\n" for i in range(n))


@pytest.mark.parametrize("pieces", [2, 3])
def test_a_guid_repeated_in_another_piece_is_the_one_pass_reads_located_error(tmp_path, pieces):
    notes = _numbered(12, {1: "  - id: n1\n    guid: GG\n", 10: "  - id: n10\n    guid: GG\n"})
    text = "deck:\n  id: d\n  name: D\nnotes:\n" + notes
    assert _same_read(str(tmp_path / "deck.yaml"), text, pieces)


@pytest.mark.parametrize("pieces", [2, 3])
def test_a_repeated_id_in_another_piece_does_not_take_its_guid(tmp_path, pieces):
    """The one-pass read drops the repeated id before looking at its guid: a later note with
    that guid is no repeat."""
    notes = _numbered(12, {9: "  - id: n1\n    guid: G2\n", 11: "  - id: n11\n    guid: G2\n"})
    text = "deck:\n  id: d\n  name: D\nnotes:\n" + notes
    assert _same_read(str(tmp_path / "deck.yaml"), text, pieces)


@pytest.mark.parametrize("pieces", [2, 3])
def test_a_note_refused_for_its_guid_still_holds_its_id(tmp_path, pieces):
    notes = _numbered(
        14,
        {
            0: "  - id: n0\n    guid: G\n",
            9: "  - id: n9\n    guid: G\n",
            12: "  - id: n9\n",
        },
    )
    text = "deck:\n  id: d\n  name: D\nnotes:\n" + notes
    assert _same_read(str(tmp_path / "deck.yaml"), text, pieces)


CARDLESS_CITER = """\
deck:
  id: d
  name: D
sources:
  s1:
    title: One
notetypes:
  dp:
    fields: [A, B]
    templates:
      - name: C
        front: "{{A}}"
        back: "{{B}}"
notes:
  - id: n0
    front: a
    back: b
  - id: n1
    front: a
    back: b
  - id: n2
    type: dp
    fields:
      B: only b
    sources: [s1]
"""


@pytest.mark.parametrize("pieces", [1, 2])
def test_a_source_cited_only_by_a_note_that_makes_no_card_is_not_called_unused(tmp_path, pieces):
    path = str(tmp_path / "deck.yaml")
    assert _same_read(path, CARDLESS_CITER, pieces)
    assert not any(d.code == "unused-source" for d in build.compile_one_pass(path, CARDLESS_CITER)[1])


def test_the_parent_and_its_child_take_every_piece_once_between_them():
    from factdeck import workers

    claims = workers.Claims(range(200))
    try:
        child = workers.Worker(lambda: bytes(claims))
        mine = list(claims)
        theirs = list(child.result())
    finally:
        claims.close()
    assert sorted(mine + theirs) == list(range(200))


def test_pieces_get_smaller_so_both_processes_end_together():
    shares = shards._shares(shards.PIECES)
    assert abs(sum(shares) - 1) < 1e-9 and shares[0] == shares[1]
    assert all(a > b for a, b in itertools.pairwise(shares[1:]))
    cut = shards.split(_deck(_notes(400, False)), shards.PIECES)
    assert len(cut.pieces) == shards.PIECES


# --- every piece at once: the eight pieces a large file is cut into ---------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(structure=deck_structure)
def test_eight_pieces_read_generated_decks_as_the_one_pass_read(tmp_path_factory, structure):
    path = tmp_path_factory.mktemp("gen8") / "deck.yaml"
    text = yaml.safe_dump(structure, allow_unicode=True, default_flow_style=False, sort_keys=False)
    path.write_text(text)
    _same_read(str(path), path.read_text(), shards.PIECES)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=trap_deck())
def test_eight_pieces_cut_inside_scalars_comments_and_flow_never_change_the_deck(tmp_path_factory, text):
    _same_read(str(tmp_path_factory.mktemp("trap8") / "deck.yaml"), text, shards.PIECES)


LARGE_HEADER = """\
deck:
  id: large
  name: Large
  media: m
sources:
  s1: {title: One, url: "https://example.org/1"}
notetypes:
  drug:
    fields: [Drug, Class, Picture]
    templates:
      - {name: Class, front: "{{Drug}} {{Picture}}", back: "{{FrontSide}}<hr id=answer>{{Class}}"}
notes:
"""


def _large_note(i: int) -> str:
    """Note i of a large deck: every kind of note, and an error or a repeat every so often."""
    kind = i % 7
    if i % 97 == 5:
        return f"  - id: n{i}\n    frnt: misspelt key\n    back: b\n"  # an error in many pieces
    if i % 149 == 11:
        return f"  - id: n{i - 100}\n    front: repeat\n    back: of an id in an earlier piece\n"
    if i % 131 == 7:
        return f"  - id: n{i}\n    guid: G{i % 3}\n    front: q\n    back: a\n"  # guids repeated
    if kind == 0:
        return (
            f"  - id: n{i}\n    type: drug\n    fields: {{Drug: d{i}, Class: c{i}, Picture: '<img src=\"p.png\">'}}\n"
            f"    subdeck: Part {i % 5}::Sub {i % 3}\n"
        )
    if kind == 1:
        return f'  - id: n{i}\n    text: &t{i} "Fact {i} is {{{{c1::x}}}}"\n    extra: *t{i}\n    tags: [k{i % 11}]\n'
    if kind == 2:
        return f"  - id: n{i}\n    guid: own{i}\n    front: Q {i}\n    back: |\n      A {i}\n      - item\n    sources: [s1]\n"
    if kind == 3:
        return f"  - id: n{i}\n    front: '![pic](m/p.png) Q{i}'\n    back: A\n    subdeck: part {i % 5}\n"
    return f"  - id: n{i}\n    front: Question {i} {'x' * 1500}?\n    back: Answer {i}\n    tags: [a, b{i % 13}]\n"


def test_a_large_deck_of_every_kind_of_note_in_eight_pieces_is_the_one_pass_read(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "p.png").write_bytes(b"\x89PNG picture")
    notes = []
    size = 0
    while size < shards.MIN_BYTES:
        notes.append(_large_note(len(notes)))
        size += len(notes[-1])
    text = LARGE_HEADER + "".join(notes)
    assert len(shards.split(text, shards.PIECES).pieces) == shards.PIECES
    assert _same_read(str(tmp_path / "deck.yaml"), text, shards.PIECES)
