"""Custom note types declared in YAML, checked against the real `anki` library.

Cards: Anki decides which cards a note has, so every count here is compared with what Anki
generates itself when the same fields are added through its own API (a fresh collection, the
note type created with Anki's model manager, `add_note`).
"""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import SIMPLE_DECK
from factdeck import notetypes
from factdeck.build import build, check

T0 = 1_700_000_000

SHARED = """\
id: pharma-shared
notetypes:
  drug-profile:
    name: "Drug profile"
    fields:
      - Drug
      - Class
      - Mechanism
      - {name: Image, format: html}
      - Sources
      - ID
    sources-field: Sources
    id-field: ID
    sort-field: Drug
    templates:
      - name: Class
        front: "{{Drug}}: which class?"
        back: "{{FrontSide}}<hr id=answer>{{Class}}{{#Sources}}<div>{{Sources}}</div>{{/Sources}}"
      - name: Mechanism
        front: "{{#Mechanism}}{{Drug}}: mechanism?{{/Mechanism}}"
        back: "{{FrontSide}}<hr id=answer>{{Mechanism}}"
    css: |
      .card { font-family: sans-serif; }
"""

DECK_A = """\
deck: {id: pharm-a, name: "Pharmacology::A"}
include: [shared/pharma.yaml]
notetypes:
  vocab:
    name: "Vocabulary (optional reverse)"
    fields: [Word, Meaning, {name: Reverse, format: text}, {name: Notes, format: html}, ID]
    id-field: ID
    templates:
      - name: Forward
        front: "{{Word}}"
        back: "{{FrontSide}}<hr id=answer>{{Meaning}}{{#Notes}}<br>{{Notes}}{{/Notes}}"
      - name: Reverse
        front: "{{#Reverse}}{{Meaning}}{{/Reverse}}"
        back: "{{FrontSide}}<hr id=answer>{{Word}}"
      - name: Unless
        front: "{{^Meaning}}{{Word}} (no meaning yet){{/Meaning}}"
        back: "{{FrontSide}}"
  fact-cloze:
    kind: cloze
    fields: [Text, Extra, ID]
    id-field: ID
    templates:
      - name: Cloze
        front: "{{cloze:Text}}{{#Extra}}<div class=extra>{{cloze:Extra}}</div>{{/Extra}}"
        back: "{{cloze:Text}}{{#Extra}}<div class=extra>{{cloze:Extra}}</div>{{/Extra}}"
sources:
  fda: {title: FDA label, url: "https://example.org/fda"}
notes:
  - id: baclofen-profile
    type: drug-profile
    fields:
      Drug: Baclofen
      Class: GABA-B receptor agonist
      Image: '<b onclick="steal()">bold</b><script>alert(1)</script><span style="color: red">red</span>'
    sources: [fda]
    subdeck: Baclofen
  - id: tizanidine-profile
    type: drug-profile
    fields: {Drug: Tizanidine, Class: Alpha-2 agonist, Mechanism: Central alpha-2 agonism}
    subdeck: "Tizanidine::Details"
  - id: word-plain
    type: vocab
    fields: {Word: hola, Meaning: hello}
  - id: word-reversed
    type: vocab
    fields: {Word: adiós, Meaning: goodbye, Reverse: "y", Notes: "<i>informal</i> <br>"}
  - id: word-no-meaning
    type: vocab
    fields: {Word: ojalá, Meaning: "<br>"}
  - id: cloze-pair
    type: fact-cloze
    fields: {Text: "{{c1::Baclofen}} acts on {{c2::GABA-B}}", Extra: "A {{c3::third}} card from Extra"}
    sources: [fda]
    subdeck: Clozes
  - id: plain-basic
    front: A built-in note
    back: still works
    subdeck: Basics
"""

DECK_B = """\
deck: {id: pharm-b, name: "Pharmacology::B"}
include: [shared/pharma.yaml]
notes:
  - id: dantrolene-profile
    type: drug-profile
    fields: {Drug: Dantrolene, Class: Ryanodine receptor antagonist, Mechanism: Muscle}
"""


@pytest.fixture
def repo(tmp_path):
    """A repository with a shared note-type file and two decks that include it."""
    (tmp_path / "decks" / "shared").mkdir(parents=True)
    (tmp_path / "decks" / "shared" / "pharma.yaml").write_text(SHARED, encoding="utf-8")
    (tmp_path / "decks" / "a.yaml").write_text(DECK_A, encoding="utf-8")
    (tmp_path / "decks" / "b.yaml").write_text(DECK_B, encoding="utf-8")
    return tmp_path / "decks"


def _build(paths, out, now):
    result = build([str(p) for p in paths], output=out, now=now)
    assert not result.errors, [d.format() for d in result.errors]
    return result


def anki_generated_ords(col, nt: notetypes.NoteType, fields: list[str], tags: list[str]) -> list[int]:
    """The cards Anki itself generates for these field values: a note type made with Anki's
    model manager (which runs Anki's own template checks), one note added with `add_note`."""
    mm = col.models
    model = mm.by_name(nt.name)
    if model is None:
        model = mm.new(nt.name)
        model["type"] = 1 if nt.cloze else 0
        for name in nt.field_names:
            mm.add_field(model, mm.new_field(name))
        for name, front, back in nt.templates:
            template = mm.new_template(name)
            template["qfmt"], template["afmt"] = front, back
            mm.add_template(model, template)
        mm.add(model)
        model = mm.by_name(nt.name)
    note = col.new_note(model)
    for i, value in enumerate(fields):
        note.fields[i] = value
    note.tags = list(tags)
    col.add_note(note, col.decks.id("Default"))
    return sorted(card.ord for card in note.cards())


def test_custom_types_build_and_import_with_anki_s_own_card_counts(repo, tmp_path, anki):
    result = _build([repo / "a.yaml", repo / "b.yaml"], tmp_path / "all.apkg", T0)
    built = {n.id: n for d in result.reports for n in d.deck.notes}
    generator = anki("generator.anki2")
    for note in built.values():
        expected = anki_generated_ords(generator.col, note.notetype, note.fields, note.tags)
        assert note.ords == expected, note.id

    col = anki()
    log = col.import_package(tmp_path / "all.apkg")
    assert len(log.new) == len(built) and not log.conflicting
    notes = {n["ID"]: n for n in (col.col.get_note(i) for i in col.col.find_notes(""))}
    assert set(notes) == set(built)
    for note_id, note in notes.items():
        assert sorted(c.ord for c in note.cards()) == built[note_id].ords, note_id
    # word-plain: Forward only; word-reversed: Forward + Reverse; word-no-meaning: Forward + Unless
    assert built["word-plain"].ords == [0]
    assert built["word-reversed"].ords == [0, 1]
    assert built["word-no-meaning"].ords == [0, 2]
    assert built["baclofen-profile"].ords == [0] and built["tizanidine-profile"].ords == [0, 1]
    assert built["cloze-pair"].ords == [0, 1, 2]  # Anki counts clozes in every field

    decks = {c.nid: col.col.decks.name(c.did) for c in col.cards()}
    by_id = {nid: col.col.get_note(nid)["ID"] for nid in decks}
    placed = {by_id[nid]: name for nid, name in decks.items()}
    assert placed["baclofen-profile"] == "Pharmacology::A::Baclofen"
    assert placed["tizanidine-profile"] == "Pharmacology::A::Tizanidine::Details"
    assert placed["cloze-pair"] == "Pharmacology::A::Clozes"
    assert placed["plain-basic"] == "Pharmacology::A::Basics"
    assert placed["word-plain"] == "Pharmacology::A" and placed["dantrolene-profile"] == "Pharmacology::B"

    profile = col.col.models.by_name("Drug profile")
    assert [f["name"] for f in profile["flds"]] == ["Drug", "Class", "Mechanism", "Image", "Sources", "ID"]
    assert profile["sortf"] == 0 and ".card { font-family: sans-serif; }" in profile["css"]
    shared_ids = {n.notetype.id for n in built.values() if n.notetype.key == "drug-profile"}
    assert len(shared_ids) == 1 and profile["id"] in shared_ids  # one type for both decks
    image = notes["baclofen-profile"]["Image"]
    assert "<b>bold</b>" in image and 'style="color: red"' in image
    assert "onclick" not in image and "script" not in image
    assert notes["baclofen-profile"]["Sources"].startswith('<ul class="fd-sources">')
    assert notes["word-reversed"]["Reverse"] == "y"
    answer = next(c for c in notes["cloze-pair"].cards() if c.ord == 0).answer()
    assert "Baclofen" in answer and "extra" in answer


def test_packages_with_custom_types_are_byte_identical_across_rebuilds(repo, tmp_path):
    _build([repo / "a.yaml"], tmp_path / "one.apkg", T0)
    _build([repo / "a.yaml"], tmp_path / "two.apkg", T0 + 999)
    assert (tmp_path / "one.apkg").read_bytes() == (tmp_path / "two.apkg").read_bytes()


def test_shared_note_type_file_is_checked_on_its_own_and_is_not_a_deck(repo, run):
    result = run("check", repo)
    assert result.exit_code == 0, result.output
    assert "ok: 2 decks" in result.output


def test_restyling_a_custom_type_reaches_anki_with_no_note_updated(repo, tmp_path, anki, run):
    _build([repo / "a.yaml"], tmp_path / "v1.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    shared = repo / "shared" / "pharma.yaml"
    shared.write_text(
        shared.read_text()
        .replace("font-family: sans-serif;", "font-family: serif; color: teal;")
        .replace(": which class?", ": which drug class?"),
        encoding="utf-8",
    )
    result = run(
        "build", repo / "a.yaml", "-o", tmp_path / "v2.apkg", env={"SOURCE_DATE_EPOCH": str(T0 + 50)}
    )
    assert result.exit_code == 0, result.output
    assert "restyled: Drug profile" in result.output and "changed" not in result.output
    log = col.import_package(tmp_path / "v2.apkg")
    assert not log.updated and not log.new and not log.conflicting
    model = col.col.models.by_name("Drug profile")
    assert "color: teal" in model["css"]
    assert model["tmpls"][0]["qfmt"] == "{{Drug}}: which drug class?"


def test_adding_a_field_to_a_custom_type_warns_naming_it(repo, tmp_path, anki, run):
    _build([repo / "a.yaml"], tmp_path / "v1.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    shared = repo / "shared" / "pharma.yaml"
    shared.write_text(
        shared.read_text().replace("      - Mechanism\n", "      - Mechanism\n      - Mnemonic\n")
    )
    result = run(
        "build", repo / "a.yaml", "-o", tmp_path / "v2.apkg", env={"SOURCE_DATE_EPOCH": str(T0 + 50)}
    )
    assert result.exit_code == 0, result.output
    assert (
        "warning: note type 'Drug profile' gained field 'Mnemonic': users must tick Merge note types and set "
        "Update notes to Always when importing this version"
    ) in result.output
    log = col.import_package(tmp_path / "v2.apkg", merge_notetypes=True, update_notes="always")
    assert not log.new and not log.conflicting
    model = col.col.models.by_name("Drug profile")
    # Anki's merge keeps the collection's field order and appends the new field; values go by name
    assert [f["name"] for f in model["flds"]] == [
        "Drug",
        "Class",
        "Mechanism",
        "Image",
        "Sources",
        "ID",
        "Mnemonic",
    ]
    notes = {n["ID"]: n for n in (col.col.get_note(i) for i in col.col.find_notes(""))}
    assert notes["tizanidine-profile"]["Mechanism"] == "Central alpha-2 agonism"
    assert notes["tizanidine-profile"]["Mnemonic"] == ""


def test_derived_id_ignores_the_definition_and_differs_between_projects(tmp_path, write_deck):
    def one(deck_id: str, css: str) -> int:
        path = write_deck(
            f"""\
            deck: {{id: {deck_id}, name: X}}
            notetypes:
              basic2:
                fields: [Q, A]
                templates: [{{front: "{{{{Q}}}}", back: "{{{{A}}}}"}}]
                css: "{css}"
            notes:
              - {{id: n, type: basic2, fields: {{Q: q, A: a}}}}
            """,
            name=f"{deck_id}-{len(css)}.yaml",
        )
        result = check([str(path)])
        assert not result.errors, result.errors
        return result.decks[0].deck.notetypes["basic2"].id

    assert one("project-one", ".card {}") == one("project-one", ".card { color: red }")
    assert one("project-one", ".x {}") != one("project-two", ".x {}")
    assert 2**52 <= one("project-one", "") < 2**53
    assert one("project-one", "") == notetypes.derived_id("project-one", "basic2")


def test_explicit_id_pins_the_anki_id(write_deck, tmp_path, anki):
    path = write_deck(
        """\
        deck: {id: imported, name: Imported}
        notetypes:
          their-basic:
            id: 1342697561419
            name: Basic (imported)
            fields: [Front, Back]
            templates: [{name: Card 1, front: "{{Front}}", back: "{{FrontSide}}<hr id=answer>{{Back}}"}]
        notes:
          - {id: n1, type: their-basic, fields: {Front: q, Back: a}}
        """
    )
    _build([path], tmp_path / "imported.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "imported.apkg")
    assert col.col.models.by_name("Basic (imported)")["id"] == 1342697561419


BUILT_IN_HASHES = {  # since the native-look restyle of card.css (issue 16)
    "basic": "4900251bb98fbd548e5c",
    "basic-reversed": "625b82e7732e39fd2271",
    "cloze": "167674bdbc1a0bb9b3e9",
}
# SIMPLE_DECK built with SOURCE_DATE_EPOCH=1700000000 and no lock, before custom note types
# existed. A deliberate restyle of the built-in note types (their CSS or templates) changes
# these: update them in the same commit, and say so in the release notes. Updated once for
# note histories (`factdeck sync`): the lock's note lines gained a history and the package two
# factdeck tables; every note's content hash and time, and every Anki row, stayed the same.
# Updated again for the native-look restyle of card.css (issue 16), and for the package's
# factdeck_meta naming the notes with GUIDs of their own (explicit_guids; none here). Updated
# for the speed work of session 4 (deflate level 5); every row and schema entry stayed the same.
# Since zlib-ng deflates the collection (session 5), what is pinned is every zip member's name and
# uncompressed content, in order (the compressed bytes depend on the deflate library's version);
# this value is the one the zlib build gave before that change.
PINNED_MEMBERS_SHA256 = "b6a8c1486ca2c9a57948bd92eded3a5fc2e6be7b19c0b110aa5e1790c1cbabad"
PINNED_LOCK_SHA256 = "76647585cbe4d43a5c7200bf65383ebf78ca490b9121392d86ee781b7e05ecca"


def _members_sha256(package: Path) -> str:
    digest = hashlib.sha256()
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            digest.update(info.filename.encode() + b"\0" + hashlib.sha256(zf.read(info)).digest())
    return digest.hexdigest()


def test_built_in_note_types_build_exactly_what_they_built_before(write_deck, tmp_path, run):
    assert {key: nt.definition_hash() for key, nt in notetypes.BY_KEY.items()} == BUILT_IN_HASHES
    deck = write_deck(SIMPLE_DECK, name="demo.yaml")
    result = run("build", deck, "-o", tmp_path / "demo.apkg", env={"SOURCE_DATE_EPOCH": str(T0)})
    assert result.exit_code == 0, result.output
    assert _members_sha256(tmp_path / "demo.apkg") == PINNED_MEMBERS_SHA256
    again = run("build", deck, "-o", tmp_path / "again.apkg", env={"SOURCE_DATE_EPOCH": str(T0)})
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.apkg").read_bytes() == (tmp_path / "demo.apkg").read_bytes()
    assert hashlib.sha256((tmp_path / "demo.lock").read_bytes()).hexdigest() == PINNED_LOCK_SHA256


# --- template errors, each located, each one Anki itself refuses or could never make a card of --

HEAD = "deck: {id: d, name: D}\nnotetypes:\n"
NOTE = "notes:\n  - {id: n, front: q, back: a}\n"


def _type(body: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(body), "  ") + NOTE


TEMPLATE_ERRORS = [
    (
        "unknown field",
        _type(
            """\
            t:
              fields: [Drug, Class]
              templates:
                - {name: A, front: "{{Dug}}", back: "{{Class}}"}
            """
        ),
        "6:27: error: `front` of template `A` of note type `t` refers to field `Dug`, which note type `t` does "
        "not have (did you mean `Drug`?)",
        "no-such-field",
    ),
    (
        "cloze type without a cloze",
        _type(
            """\
            t:
              kind: cloze
              fields: [Text]
              templates:
                - {front: "{{Text}}", back: "{{cloze:Text}}"}
            """
        ),
        "7:17: error: `front` of template `Cloze` of note type `t` has no `{{cloze:FIELD}}`: a cloze type "
        "shows its deletions with it on both sides",
        "missing-cloze",
    ),
    (
        "cloze front whose sections exclude its field",
        _type(
            """\
            t:
              kind: cloze
              fields: [Text, Extra]
              templates:
                - {front: "{{^Text}}{{cloze:Text}}{{/Text}}", back: "{{cloze:Text}}"}
            """
        ),
        "7:17: error: `front` of template `Cloze` of note type `t` can never show a cloze gap: each of its "
        "`{{cloze:...}}` is inside sections that cannot all hold with its field filled (or clozes a special "
        "field), so every card Anki makes would ask nothing",
        None,
    ),
    (
        "cloze front only on two cards at once",
        _type(
            """\
            t:
              kind: cloze
              fields: [Text]
              templates:
                - {front: "{{#c1}}{{#c2}}{{cloze:Text}}{{/c2}}{{/c1}}{{^Deck}}{{cloze:Text}}{{/Deck}}", back: "{{cloze:Text}}"}
            """
        ),
        "7:17: error: `front` of template `Cloze` of note type `t` can never show a cloze gap: each of its "
        "`{{cloze:...}}` is inside sections that cannot all hold with its field filled (or clozes a special "
        "field), so every card Anki makes would ask nothing",
        None,
    ),
    (
        "front without any field",
        _type(
            """\
            t:
              fields: [Q]
              templates:
                - {front: "What?", back: "{{Q}}"}
            """
        ),
        "6:17: error: `front` of template `Card 1` of note type `t` can never show anything: Anki makes a "
        "card only when the front shows a field that is not empty",
        "no-front-field",
    ),
    (
        "front whose conditions contradict",
        _type(
            """\
            t:
              fields: [Q]
              templates:
                - {front: "{{#Q}}{{^Q}}{{Q}}{{/Q}}{{/Q}}", back: "{{Q}}"}
            """
        ),
        "6:17: error: `front` of template `Card 1` of note type `t` can never show anything: Anki makes a "
        "card only when the front shows a field that is not empty",
        None,
    ),
    (
        "duplicate field",
        _type(
            """\
            t:
              fields: [Q, q]
              templates: [{front: "{{Q}}", back: "{{Q}}"}]
            """
        ),
        "4:17: error: note type `t` has two fields named `Q` and `q` (Anki ignores case in field names)",
        None,
    ),
    (
        "duplicate template name",
        _type(
            """\
            t:
              fields: [Q, A]
              templates:
                - {name: Same, front: "{{Q}}", back: "{{A}}"}
                - {name: Same, front: "{{A}}", back: "{{Q}}"}
            """
        ),
        "7:16: error: note type `t` has two templates named `Same` (Anki ignores case in template names)",
        None,
    ),
    (
        "identical fronts",
        _type(
            """\
            t:
              fields: [Q, A]
              templates:
                - {name: One, front: "{{Q}}", back: "{{A}}"}
                - {name: Two, front: "{{Q}}", back: "{{Q}}{{A}}"}
            """
        ),
        "7:28: error: templates `One` and `Two` of note type `t` have the same front; Anki refuses card "
        "types it cannot tell apart",
        "duplicate-front",
    ),
    (
        "sources-field naming no field",
        _type(
            """\
            t:
              fields: [Q, Source]
              sources-field: Sources
              templates: [{front: "{{Q}}", back: "{{Q}}"}]
            """
        ),
        "5:20: error: `sources-field` of note type `t` names `Sources`, which is not one of its fields "
        "(did you mean `Source`?)",
        None,
    ),
    (
        "id-field naming no field",
        _type(
            """\
            t:
              fields: [Q]
              id-field: ID
              templates: [{front: "{{Q}}", back: "{{Q}}"}]
            """
        ),
        "5:15: error: `id-field` of note type `t` names `ID`, which is not one of its fields",
        None,
    ),
    (
        "section never closed",
        _type(
            """\
            t:
              fields: [Q]
              templates: [{front: "{{#Q}}{{Q}}", back: "{{Q}}"}]
            """
        ),
        "5:26: error: `front` of template `Card 1` of note type `t`: section `{{#Q}}` is never closed with "
        "`{{/Q}}`",
        "parse",
    ),
    (
        "cloze filter in a standard type",
        _type(
            """\
            t:
              fields: [Q, A]
              templates:
                - {front: "{{Q}}", back: "{{cloze:A}}"}
            """
        ),
        "6:33: error: `back` of template `Card 1` of note type `t` uses `{{cloze:A}}`, which only a cloze "
        "type (`kind: cloze`) fills: in a standard type Anki shows nothing for it unless the field holds "
        "the cloze numbered like the template (c1 on the first), so its cards come out empty",
        None,
    ),
    (
        "field name Anki refuses",
        _type(
            """\
            t:
              fields: ["Q:1", Q]
              templates: [{front: "{{Q}}", back: "{{Q}}"}]
            """
        ),
        '4:14: error: field name `Q:1` of note type `t` contains `:`, `{`, `}` or `"`, which Anki does not '
        "allow in field names",
        None,
    ),
]


@pytest.mark.parametrize(
    ("char", "shown"), [("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r"), ("\x85", "\\x85"), ("\u2028", "\\u2028")]
)
def test_a_field_name_with_a_line_break_or_tab_is_refused_on_one_line(write_deck, run, char, shown):
    escaped = char.encode("unicode_escape").decode()
    path = write_deck(
        _type(
            f"""\
            t:
              fields: ["new{escaped}line", Q]
              templates: [{{front: "{{{{Q}}}}", back: "{{{{Q}}}}"}}]
            """
        )
    )
    for args in (("check", path), ("check", "--format", "github", path)):
        result = run(*args)
        assert result.exit_code == 1
        assert char not in result.output.replace("\n", ""), result.output
        assert result.output.splitlines()[1:] == ["1 error"], result.output
    assert (
        f"{path}:4:14: error: field name `new{shown}line` of note type `t` contains {shown}, a line break or "
        "control character: a field name is one line of text"
    ) in run("check", path).output.splitlines()


def test_text_in_a_message_is_printed_with_its_line_breaks_escaped(write_deck, run):
    path = write_deck(
        _type(
            """\
            t:
              fields: [Q]
              templates: [{front: "{{Q}}{{Pa\\nd\\u202e}}", back: "{{Q}}"}]
            """
        )
    )
    expected = (
        "error: `front` of template `Card 1` of note type `t` refers to field `Pa\\nd\\u202e`, which "
        "note type `t` does not have (its fields: Q)"
    )
    result = run("check", path)
    assert f"{path}:5:31: {expected}" in result.output.splitlines(), result.output
    github = run("check", "--format", "github", path)
    assert "\u202e" not in github.output and github.output.splitlines()[1:] == ["1 error"]
    assert github.output.splitlines()[0].endswith(expected.removeprefix("error: "))


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected, _ in TEMPLATE_ERRORS],
    ids=[c[0] for c in TEMPLATE_ERRORS],
)
def test_every_template_error_is_located(write_deck, run, text, expected):
    path = write_deck(text)
    result = run("check", path)
    assert result.exit_code == 1
    assert f"{path}:{expected}" in result.output.splitlines(), result.output


# Templates written in every YAML scalar style, each with one mistake: the error must name the
# line and column of the handle at fault (`^` marks it), or the template's start where the
# file cannot tell (an explicit indentation indicator, an alias).
INSIDE = {
    "literal block": """\
      - back: "{{A}}"
        front: |
          <div>
            {{#Q}}{{Q}}
          ^{{/A}}</div>
""",
    "folded block, stripped": """\
      - back: "{{A}}"
        front: >-
          {{Q}} and

          then ^{{Nope}}
""",
    "double-quoted with escapes": """\
      - {back: "{{A}}", front: "<i class=\\"x\\">\\u00e9\\t\\x41</i> {{Q}} ^{{Nope}}"}
""",
    "double-quoted over lines": """\
      - back: "{{A}}"
        front: "{{Q}}
          and \\
          more ^{{Nope}}"
""",
    "single-quoted": """\
      - {back: "{{A}}", front: '<b class=''x''>{{Q}}</b> ^{{#Q}}'}
""",
    "plain over lines": """\
      - back: "{{A}}"
        front: <p>{{Q}}
          two   spaces ^{{}}
""",
    "indentation indicator": """\
      - back: "{{A}}"
        front: ^|2
            {{Q}}{{Nope}}
""",
    "alias": """\
      - {back: "{{A}}", front: &t "{{Q}}"}
      - {name: Two, back: "{{A}}{{Q}}", front: ^*t}
""",
}


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("templates", INSIDE.values(), ids=INSIDE.keys())
def test_template_errors_name_the_line_and_column_inside_the_template(tmp_path, run, templates, newline):
    lines = (HEAD + "  t:\n    fields: [Q, A]\n    templates:\n" + templates + NOTE).splitlines()
    (line,) = [n for n, text in enumerate(lines, 1) if "^" in text]
    col = lines[line - 1].index("^") + 1
    path = tmp_path / "deck.yaml"
    path.write_bytes(newline.join(text.replace("^", "") for text in lines).encode() + newline.encode())
    result = run("check", path)
    assert result.exit_code == 1
    errors = [text for text in result.output.splitlines() if ": error: " in text]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{line}:{col}: error: "), result.output


def test_two_core_read_locates_template_errors_as_the_one_pass_read_does(tmp_path, monkeypatch):
    from factdeck import shards
    from test_shards import _compare

    notes = "".join(f"  - {{id: n{i}, front: q{i}, back: a}}\n" for i in range(200))
    template = '    templates:\n      - back: "{{Q}}"\n        front: |\n          <b>\n            {{Q}} {{Nope}}\n          </b>\n'
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "  t:\n    fields: [Q]\n" + template + "notes:\n" + notes, encoding="utf-8")
    shards.compile_file(str(path), path.read_text())  # really takes the two-core path
    result = _compare(path, monkeypatch)
    assert [(d.line, d.col, d.code) for d in result.errors] == [(9, 19, "unknown-field")]


def test_a_cloze_in_a_standard_template_is_an_error_where_it_is(write_deck, run):
    deck = write_deck(_type('t:\n  fields: [Q]\n  templates: [{front: "{{Q}}", back: "x {{cloze:Q}}"}]\n'))
    result = run("check", deck)
    assert result.exit_code == 1
    assert (
        f"{deck}:5:43: error: `back` of template `Card 1` of note type `t` uses `{{{{cloze:Q}}}}`"
        in result.output
    )


ANKI_REFUSES = {
    "no-such-field": ("Q", "{{Nope}}", "{{Q}}", False),
    "missing-cloze": ("Text", "{{Text}}", "{{cloze:Text}}", True),
    "no-front-field": ("Q", "What?", "{{Q}}", False),
    "parse": ("Q", "{{#Q}}{{Q}}", "{{Q}}", False),
}


@pytest.mark.parametrize("case", sorted(ANKI_REFUSES))
def test_the_template_errors_are_ones_anki_itself_refuses(anki, case):
    field, front, back, cloze = ANKI_REFUSES[case]
    col = anki().col
    mm = col.models
    model = mm.new(f"refused {case}")
    model["type"] = 1 if cloze else 0
    mm.add_field(model, mm.new_field(field))
    template = mm.new_template("Card 1")
    template["qfmt"], template["afmt"] = front, back
    mm.add_template(model, template)
    with pytest.raises(Exception, match=re.compile("card|template|cloze|field", re.I)):
        mm.add(model)


def test_anki_makes_empty_cards_for_a_cloze_filter_in_a_standard_type(anki):
    """Why `{{cloze:A}}` in a standard type is an error: Anki makes the card (A is filled) and its
    question is empty, unless A holds the cloze numbered like the template."""
    col = anki().col
    mm = col.models
    model = mm.new("standard with cloze")
    mm.add_field(model, mm.new_field("A"))
    template = mm.new_template("Card 1")
    template["qfmt"], template["afmt"] = "{{cloze:A}}", "{{A}}"
    mm.add_template(model, template)
    mm.add(model)
    questions = []
    for text in ("a fact", "{{c2::a}} fact", "{{c1::a}} fact"):
        note = col.new_note(mm.by_name("standard with cloze"))
        note["A"] = text
        col.add_note(note, 1)
        (card,) = note.cards()
        questions.append(card.question().split("</style>")[-1])
    assert questions[:2] == ["", ""]
    assert "[...]" in questions[2]


@pytest.mark.parametrize(
    "front",
    [
        "{{^Text}}{{cloze:Text}}{{/Text}}",
        "{{#c1}}{{#c2}}{{cloze:Text}}{{/c2}}{{/c1}}{{^Deck}}{{cloze:Text}}{{/Deck}}",
    ],
)
def test_anki_takes_a_cloze_front_that_can_never_show_a_gap_and_its_cards_ask_nothing(anki, front):
    col = anki().col
    nt = notetypes.NoteType(
        "t",
        1,
        "never a gap",
        (notetypes.Field("Text", "Text"),),
        (("Cloze", front, "{{cloze:Text}}"),),
        "",
        cloze=True,
    )
    for text in ("{{c1::a}}", "{{c1::a}} {{c2::b}}", "{{c2::b}}"):
        assert anki_generated_ords(col, nt, [text], [])  # Anki makes the cards
    for cid in col.find_cards(""):
        assert col.get_card(cid).question().split("</style>")[-1] == ""


def test_anki_refuses_identical_fronts_too(anki):
    col = anki().col
    mm = col.models
    model = mm.new("twins")
    for name in ("Q", "A"):
        mm.add_field(model, mm.new_field(name))
    for name in ("One", "Two"):
        template = mm.new_template(name)
        template["qfmt"], template["afmt"] = "{{Q}}", "{{A}}"
        mm.add_template(model, template)
    with pytest.raises(Exception):  # noqa: B017 - Anki raises its own CardTypeError
        mm.add(model)


def test_included_file_problems_are_reported_at_its_own_path(tmp_path, write_deck, run):
    (tmp_path / "types.yaml").write_text(
        "id: t\nnotetypes:\n  x:\n    fields: [Q]\n    templates: [{front: '{{Qq}}', back: '{{Q}}'}]\n"
    )
    deck = write_deck(
        "deck: {id: d, name: D}\ninclude: [types.yaml]\nnotes:\n  - {id: n, type: x, fields: {Q: a}}\n"
    )
    result = run("check", deck)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(
        line.startswith(f"{tmp_path / 'types.yaml'}:5:26: error: `front` of template") for line in lines
    )
    assert f"{deck}:2:11: error: included file `types.yaml` has errors (reported at its own path)" in lines
    assert not any("unknown note type" in line for line in lines)


def test_note_fields_are_checked_against_the_type(write_deck, run):
    deck = write_deck(
        """\
        deck: {id: d, name: D}
        notetypes:
          t:
            fields: [Word, Meaning, ID]
            id-field: ID
            templates: [{front: "{{Word}}", back: "{{Meaning}}"}]
        notes:
          - id: n
            type: t
            front: oops
            fields: {Wrd: a, ID: b}
        """
    )
    result = run("check", deck)
    lines = result.output.splitlines()
    assert (
        f"{deck}:10:5: error: unknown key `front` in a `t` note; its content goes under `fields`, by field name"
        in lines
    )
    assert (
        f"{deck}:11:14: error: note type `t` has no field `Wrd` (did you mean `Word`?) (its fields: Word, Meaning)"
        in lines
    )
    assert f"{deck}:11:22: error: field `ID` of note `n` is filled by factdeck with the note id" in lines


def test_a_note_whose_fields_make_no_card_is_an_error(write_deck, run):
    deck = write_deck(
        """\
        deck: {id: d, name: D}
        notetypes:
          t:
            fields: [Word, Meaning]
            templates: [{front: "{{Word}}", back: "{{Meaning}}"}]
        notes:
          - {id: n, type: t, fields: {Meaning: only the back}}
        """
    )
    result = run("check", deck)
    assert result.exit_code == 1
    assert (
        f"{deck}:7:5: error: note `n` makes no card: with its fields, the front of every template of note "
        "type `t` is empty"
    ) in result.output.splitlines()


CUSTOM_CLOZE = """\
deck: {id: cc, name: Custom cloze}
notetypes:
  fact:
    kind: cloze
    fields: [Text, Extra]
    templates: [{front: "{{cloze:Text}}", back: "{{cloze:Text}}<br>{{Extra}}"}]
notes:
"""


def test_custom_cloze_cards_are_counted_on_the_final_html_as_anki_counts_them(write_deck, tmp_path, anki):
    """A cloze only Markdown unescaping makes, and one with two numbers, make cards; the
    package holds exactly the cards Anki generates from the stored fields."""
    deck = write_deck(
        CUSTOM_CLOZE
        + "  - {id: made, type: fact, fields: {Text: 'only {\\{c1::Markdown\\}\\} makes this'}}\n"
        + "  - {id: several, type: fact, fields: {Text: '{{c1,2::both}} and {{c3::three}}'}}\n"
    )
    result = build([str(deck)], output=tmp_path / "cc.apkg", now=T0)
    assert not result.errors, [d.format() for d in result.errors]
    built = {n.id: n for d in result.reports for n in d.deck.notes}
    assert built["made"].fields[0] == "only {{c1::Markdown}} makes this"
    assert built["made"].ords == [0] and built["several"].ords == [0, 1, 2]
    generator = anki("generator.anki2")
    for note in built.values():
        assert note.ords == anki_generated_ords(generator.col, note.notetype, note.fields, note.tags), note.id
    col = anki()
    col.import_package(tmp_path / "cc.apkg")
    for note in col.col.find_notes(""):
        cards = sorted(c.ord for c in col.col.get_note(note).cards())
        assert cards in ([0], [0, 1, 2])


def test_custom_cloze_note_without_a_surviving_cloze_is_a_located_error(write_deck, run):
    deck = write_deck(
        CUSTOM_CLOZE
        + "  - id: removed\n    type: fact\n    fields:\n      Text: '<b onclick=\"{{c1::x}}\">y</b>'\n"
        + "  - id: none\n    type: fact\n    fields:\n      Extra: see below\n      Text: no cloze here\n"
    )
    result = run("check", deck)
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"{deck}:11:13: error: no cloze deletion of note `removed` survives rendering (a cloze in a "
        "link address, or in an attribute or other HTML the sanitiser removes, is dropped); Anki would make no card",
        f"{deck}:16:13: error: note `none` has no cloze deletion in `Text`; mark one like `{{{{c1::answer}}}}`",
    ]


GAPLESS = """\
deck: {id: gl, name: Gapless}
notetypes:
  fact:
    kind: cloze
    fields: [Text, Extra]
    templates: [{front: "{{cloze:Text}}", back: "{{cloze:Text}}<br>{{Extra}}"}]
  if-extra:
    kind: cloze
    fields: [Text, Extra]
    templates: [{front: "{{#Extra}}Q: {{cloze:Text}}{{/Extra}}", back: "{{cloze:Text}}"}]
  unless-hide:
    kind: cloze
    fields: [Text, Hide]
    templates: [{front: "{{^Hide}}{{cloze:Text}}{{/Hide}}", back: "{{cloze:Text}}"}]
  first-only:
    kind: cloze
    fields: [Text]
    templates: [{front: "{{#c1}}{{cloze:Text}}{{/c1}}", back: "{{cloze:Text}}"}]
  tagged:
    kind: cloze
    fields: [Text]
    templates: [{front: "{{#Tags}}{{cloze:Text}}{{/Tags}}", back: "{{cloze:Text}}"}]
  stripped:
    kind: cloze
    fields: [{name: Text, format: html}]
    templates: [{front: "{{cloze:text:Text}}", back: "{{cloze:text:Text}}"}]
notes:
  - id: stray
    type: fact
    fields:
      Text: '{{c1::a}}'
      Extra: 'see {{c2::b}} and {{c1::again}}'
  - {id: fine, type: fact, fields: {Text: '{{c1::a}} {{c2::b}}', Extra: '{{c2::also}}'}}
  - {id: no-extra, type: if-extra, fields: {Text: '{{c1::a}}'}}
  - {id: with-extra, type: if-extra, fields: {Text: '{{c1::a}}', Extra: shown}}
  - {id: hidden, type: unless-hide, fields: {Text: '{{c1::a}}', Hide: "y"}}
  - {id: second, type: first-only, fields: {Text: '{{c1::a}} {{c2::b}}'}}
  - {id: untagged, type: tagged, fields: {Text: '{{c1::a}}'}}
  - {id: has-tags, type: tagged, fields: {Text: '{{c1::a}}'}, tags: [t]}
  - {id: in-title, type: stripped, fields: {Text: '{{c1::a}} <i title="c2 {{c2::b}}">i</i>'}}
"""

GAPLESS_ERRORS = [
    "32:14: error: card c2 of note `stray` shows no gap on its front (c2 is only in `Extra`, which the front "
    "does not show with `cloze`)",
    "34:51: error: card c1 of note `no-extra` shows no gap on its front (its `{{cloze:Text}}` is inside "
    "`{{#Extra}}`, and `Extra` is empty in this note)",
    "36:52: error: card c1 of note `hidden` shows no gap on its front (its `{{cloze:Text}}` is inside "
    "`{{^Hide}}`, and `Hide` is not empty in this note)",
    "37:51: error: card c2 of note `second` shows no gap on its front (its `{{cloze:Text}}` is inside "
    "`{{#c1}}`, which holds only on card c1)",
    "38:49: error: card c1 of note `untagged` shows no gap on its front (its `{{cloze:Text}}` is inside "
    "`{{#Tags}}`, and this note has no tags)",
    "40:51: error: card c2 of note `in-title` shows no gap on its front (`{{cloze:text:Text}}` applies "
    "`text` before `cloze`, which leaves no c2 in it)",
]


def test_a_cloze_card_whose_front_shows_no_gap_is_an_error_naming_the_card_and_why(write_deck, run):
    deck = write_deck(GAPLESS)
    result = run("check", deck)
    assert result.exit_code == 1
    tail = ": Anki makes a card for every cloze number in any field, and this one would ask nothing"
    assert [line for line in result.output.splitlines() if "shows no gap" in line] == [
        f"{deck}:{line}{tail}" for line in GAPLESS_ERRORS
    ]
    assert "warning" not in result.output


def test_anki_makes_the_cards_factdeck_refuses_and_shows_no_gap_on_their_fronts(write_deck, anki):
    """The oracle for the errors above: each card is made by Anki and its question shows no gap,
    while the notes factdeck accepts show one on every card."""
    deck = write_deck(GAPLESS)
    (built,) = check([str(deck)]).decks
    col = anki().col
    refused = {
        (e.split("note `")[1].split("`")[0], int(e.split("card c")[1].split(" ")[0])) for e in GAPLESS_ERRORS
    }
    seen = set()
    for note in built.notes:
        model = col.models.by_name(note.notetype.name)
        if model is None:
            anki_generated_ords(col, note.notetype, note.fields, note.tags)  # makes the model
            model = col.models.by_name(note.notetype.name)
        anki_note = col.new_note(model)
        for i, value in enumerate(note.fields):
            anki_note.fields[i] = value
        anki_note.tags = list(note.tags)
        col.add_note(anki_note, col.decks.id("Default"))
        cards = sorted(anki_note.cards(), key=lambda c: c.ord)
        assert [c.ord for c in cards] == note.ords, note.id
        for card in cards:
            shows_gap = 'class="cloze" data-cloze=' in card.question() or "[...]" in card.question()
            assert shows_gap == ((note.id, card.ord + 1) not in refused), (note.id, card.ord, card.question())
            seen.add((note.id, card.ord + 1))
    assert refused <= seen


def test_notes_of_custom_types_after_a_crlf_header_keep_file_order(tmp_path, run):
    """CRLF files take the one-pass read, where notes arrive before the header is known."""
    text = DECK_A.replace("include: [shared/pharma.yaml]\n", "").split("notes:\n")[0]
    text = text.replace(
        "  fact-cloze:",
        "  drug-profile:\n    fields: [Drug, Class, Mechanism, Image, Sources, ID]\n"
        "    templates: [{front: '{{Drug}}', back: '{{Class}}'}]\n  fact-cloze:",
    )
    notes = "notes:\n  - {id: b1, front: q, back: a}\n  - {id: w1, type: vocab, fields: {Word: w}}\n  - {id: b2, front: q, back: a}\n"
    lf, crlf = tmp_path / "lf.yaml", tmp_path / "crlf" / "crlf.yaml"
    crlf.parent.mkdir()
    lf.write_text(text + notes, encoding="utf-8")
    crlf.write_bytes((text + notes).replace("\n", "\r\n").encode())
    one, two = check([str(lf)]), check([str(crlf)])
    assert not one.errors and not two.errors, (one.errors, two.errors)
    assert [n.id for n in one.decks[0].notes] == [n.id for n in two.decks[0].notes] == ["b1", "w1", "b2"]


def test_stats_json_names_custom_types(repo, run):
    result = run("stats", repo / "a.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"vocab"' in result.output


@pytest.mark.parametrize("broken", [False, True])
def test_two_core_read_of_custom_type_notes_equals_the_one_pass_read(tmp_path, monkeypatch, broken):
    from factdeck import shards
    from test_shards import _compare

    head = DECK_A.replace("include: [shared/pharma.yaml]\n", "").split("notes:\n")[0]
    notes = []
    for i in range(200):
        if i % 3 == 0:
            notes.append(
                f"  - id: w{i}\n    type: vocab\n    fields: {{Word: w{i}, Meaning: m{i}}}\n    subdeck: S{i % 4}\n"
            )
        elif i % 3 == 1:
            notes.append(f'  - id: c{i}\n    type: fact-cloze\n    fields:\n      Text: "{{{{c1::x{i}}}}}"\n')
        else:
            notes.append(f"  - id: b{i}\n    front: q{i}\n    back: a\n")
    if broken:
        notes[150] = "  - id: w150\n    type: vocab\n    fields: {Wrd: x}\n"
        notes[160] = "  - id: c160\n    type: fact-cloze\n    fields: {Text: no cloze}\n"
    path = tmp_path / "big.yaml"
    path.write_text(head + "notes:\n" + "".join(notes), encoding="utf-8")
    shards.compile_file(str(path), path.read_text())  # really takes the two-core path
    result = _compare(path, monkeypatch)
    assert bool(result.errors) == broken
    if not broken:
        assert {n.subdeck for n in result.decks[0].notes} == {"", "S0", "S1", "S2", "S3"}


def test_anki_keeps_existing_cards_where_they_are_when_a_note_moves_subdeck(write_deck, tmp_path, anki, run):
    """Measured: re-importing never moves a card already in the collection, with any update
    option; only cards new to the collection go to the package's (new) subdeck."""
    deck = write_deck(
        """\
        deck: {id: mv, name: Top}
        notetypes:
          v:
            fields: [W, M, R]
            templates:
              - {name: F, front: "{{W}}", back: "{{M}}"}
              - {name: Rev, front: "{{#R}}{{M}}{{/R}}", back: "{{W}}"}
        notes:
          - {id: moved, type: v, fields: {W: w, M: m}, subdeck: One}
          - {id: stays, front: q, back: a, subdeck: One}
        """
    )
    first = run("build", deck, "-o", tmp_path / "v1.apkg", env={"SOURCE_DATE_EPOCH": str(T0)})
    assert first.exit_code == 0, first.output
    deck.write_text(
        deck.read_text().replace("subdeck: One}\n  - {id: stays", "subdeck: Two}\n  - {id: stays")
    )
    moved_only = run("build", deck, "-o", tmp_path / "v2.apkg", env={"SOURCE_DATE_EPOCH": str(T0 + 10)})
    assert "changed" not in moved_only.output  # a move alone updates no note
    deck.write_text(deck.read_text().replace("{W: w, M: m}", "{W: w, M: m, R: y}"))
    grown = run("build", deck, "-o", tmp_path / "v3.apkg", env={"SOURCE_DATE_EPOCH": str(T0 + 20)})
    assert "1 changed: moved" in grown.output
    for update in ("if_newer", "always"):
        col = anki()
        col.import_package(tmp_path / "v1.apkg")
        mine = col.col.decks.id("Mine")
        col.col.set_deck(
            [c.id for c in col.cards() if c.note().fields[0] == "q"], mine
        )  # the user's own move
        col.import_package(tmp_path / "v2.apkg", update_notes=update)
        col.import_package(tmp_path / "v3.apkg", update_notes=update)
        placed = {(c.note().fields[0], c.ord): col.col.decks.name(c.did) for c in col.cards()}
        assert placed == {("w", 0): "Top::One", ("w", 1): "Top::Two", ("q", 0): "Mine"}, update
    fresh = anki()
    fresh.import_package(tmp_path / "v3.apkg")
    assert {fresh.col.decks.name(c.did) for c in fresh.cards() if c.note().fields[0] == "w"} == {"Top::Two"}


def test_hostile_note_type_declarations_end_in_located_errors(tmp_path, write_deck, run):
    os.mkfifo(tmp_path / "pipe.css")  # reading it would block forever
    deep = "{{#Q}}" * 500 + "{{Q}}" + "{{/Q}}" * 500
    deck = write_deck(
        f"""\
        deck: {{id: d, name: D}}
        include: [pipe.css, ., ../../../../../../etc/passwd]
        notetypes:
          fifo:
            fields: [Q]
            css-file: pipe.css
            templates: [{{front: "{{{{Q}}}}", back: "{{{{Q}}}}"}}]
          deep:
            fields: [Q]
            templates: [{{front: "{deep}", back: "{{{{Q}}}}"}}]
          escape:
            fields: [Q]
            css-file: ../outside.css
            templates: [{{front: "{{{{Q}}}}", back: "{{{{Q}}}}"}}]
          ids:
            id: "-5"
            fields: [Q]
            templates: [{{front: "{{{{Q}}}}", back: "{{{{Q}}}}"}}]
        notes:
          - {{id: n, front: q, back: a}}
        """
    )
    result = run("check", deck)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "cannot be read: not a regular file" in out
    assert "sections are nested more than 50 deep" in out
    assert "is outside the folder of this file" in out
    assert "must be a whole number from 1 to" in out
    assert "internal error" not in out and "Traceback" not in out
    assert all(re.match(r".+:\d+:\d+: error: ", line) for line in out.splitlines()[:-1]), out


@pytest.mark.parametrize("section", ["#", "^"])
def test_a_section_on_frontside_is_a_located_template_error_as_anki_shows_one(write_deck, run, anki, section):
    back = "{{Q}}{{" + section + "FrontSide}}x{{/FrontSide}}"
    deck = write_deck(_type('t:\n  fields: [Q]\n  templates: [{front: "{{Q}}", back: "' + back + '"}]\n'))
    result = run("check", deck)
    assert result.exit_code == 1
    assert (
        f"{deck}:5:46: error: `back` of template `Card 1` of note type `t` opens a section on `FrontSide`, "
        "which is not a field: Anki shows 'template has a problem' instead of the card"
    ) in result.output.splitlines(), result.output
    col = anki().col
    model = col.models.new(f"frontside {section}")
    col.models.add_field(model, col.models.new_field("Q"))
    template = col.models.new_template("Card 1")
    template["qfmt"], template["afmt"] = "{{Q}}", back
    col.models.add_template(model, template)
    col.models.add(model)
    note = col.new_note(col.models.by_name(model["name"]))
    note["Q"] = "q"
    col.add_note(note, col.decks.id("Default"))
    assert "Back template has a problem" in note.cards()[0].answer()


def test_every_wrong_handle_of_a_huge_template_is_located_in_one_run(write_deck, run):
    wrong = 5_000  # each located by reading the template and the file once, not once per handle
    front = "{{Q}}" + "".join(f"{{{{F{i}}}}}" for i in range(wrong)) + "{{}}{{#FrontSide}}{{/FrontSide}}"
    deck = write_deck(
        _type('t:\n  fields: [Q]\n  templates: [{front: "' + front + '", back: "{{Q}}{{/Q}}"}]\n')
    )
    result = run("check", deck)
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert len(errors) == wrong + 3
    line = Path(deck).read_text(encoding="utf-8").splitlines()[4]
    assert errors[0].startswith(
        f"{deck}:5:{line.index('{{F0}}') + 1}: error: `front` of template `Card 1` of note type `t` refers to field `F0`"
    )
    assert errors[wrong - 1].startswith(f"{deck}:5:{line.index(f'{{{{F{wrong - 1}}}}}') + 1}: error: ")
    assert f"{deck}:5:{line.index('{{}}') + 1}: error: " in result.output
    assert f"{deck}:5:{line.index('{{#FrontSide') + 1}: error: " in result.output
    assert f"{deck}:5:{line.index('{{/Q}}') + 1}: error: `back` of template" in result.output
