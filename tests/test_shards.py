"""The two-core read of large files gives exactly what the one-pass read gives, errors included."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factdeck import build, shards
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
        assert [d.notes for d in other.decks] == [d.notes for d in plain.decks]
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
    header, docs = shards.split(text, 2)
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
    assert (fast[0].notes if fast[0] else None) == (out_plain[0].notes if out_plain[0] else None)


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
