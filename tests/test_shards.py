"""The two-core read of large files gives exactly what the one-pass read gives, errors included."""

from __future__ import annotations

import pytest

from factdeck import build, shards


def _deck(notes: str, tail: str = "") -> str:
    return ("deck:\n  id: big\n  name: Big\ntags: [t]\nsources:\n  s1:\n    title: One\n"
            "    url: https://example.org/1\nnotes:\n" + notes + tail)


def _notes(n: int, broken: bool) -> str:
    out = []
    for i in range(n):
        if i % 2:
            out.append(f"  - id: n{i}\n    text: \"Fact {i} is {{{{c1::**bold {i}**}}}} and {{{{c2::x}}}}\"\n"
                       f"    sources: [s1]\n")
        else:
            out.append(f"  - id: n{i}\n    front: Question {i}?\n    back: |\n      Answer {i}\n      - not an item\n"
                       f"    tags: [k{i % 3}]\n    sources: [s1]\n")
    if broken:
        out[3] = "  - id: n3\n    frnt: oops\n    back: b\n"
        out[150] = out[150].replace("sources: [s1]", "sources: [s2]")
        out[170] = "  - id: n1\n    front: dup\n    back: dup\n"  # duplicate of a note in the first half
        out[180] = '  - id: n180\n    text: "{{c0::zero}}"\n'
    return "".join(out)


def _compare(path, monkeypatch):
    monkeypatch.setattr(shards, "MIN_BYTES", 0)
    sharded = build.check([str(path)])
    monkeypatch.setattr(shards, "available", lambda: False)
    plain = build.check([str(path)])
    assert [d.format() for d in sharded.diagnostics] == [d.format() for d in plain.diagnostics]
    assert [d.notes for d in sharded.decks] == [d.notes for d in plain.decks]
    assert [d.description for d in sharded.decks] == [d.description for d in plain.decks]
    return sharded


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
    header, docs = shards.split(text, 2)
    assert len(docs) == 2
    assert header.count("\n") == text.count("\n")
    lines = text.split("\n")
    for piece in docs:
        first_line = piece[0]
        doc_lines = shards.piece_document(text, piece).split("\n")
        assert doc_lines[first_line] == lines[first_line] and doc_lines[first_line].startswith("  - id:")


@pytest.mark.parametrize("text", [
    "notes:\n  - id: a\n\r\n",  # CRLF
    "deck: {id: a, name: A}\nnotes: [ {id: a, front: q, back: a} ]\n",  # flow style
    "notes:\n\n  - id: a\nnotes:\n  - id: b\n",  # two lists
])
def test_unusual_layouts_fall_back_to_the_one_pass_read(text):
    with pytest.raises(shards.Fallback):
        shards.split(text, 2)
