"""The JSON Schema of deck files: shipped, printed by `factdeck schema`, and faithful to `factdeck check`.

A deck is compared two ways: as factdeck reads it (every scalar is text) and as an editor reads
it (YAML 1.2 types: `id: 42` is a number). Both must accept exactly the decks `check` accepts,
except for the checks a schema cannot express, which are pinned in CHECK_ONLY.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import SIMPLE_DECK
from factdeck import build as pipeline
from factdeck.diagnostics import Collector
from factdeck.schema import DECK_NAME_PATTERN, deck_schema, schema_text
from factdeck.yamlload import load

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "schema" / "factdeck-deck.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(deck_schema())

HEAD = "deck: {id: demo, name: Demo}\n"

VALID = {
    "simple-deck": SIMPLE_DECK,
    "minimal": HEAD + "notes:\n  - {id: a, front: Q, back: A}\n",
    "version-and-everything-optional": """\
        version: "1"
        deck: {id: d-1, name: "Parent::Child", description: ""}
        tags: [t1, "a::b"]
        sources:
          Src_1.x: {title: A book}
          web: {title: A site, url: "https://example.org/x?y=1"}
        notes:
          - {id: b, type: basic-reversed, front: Q, back: A, extra: "", tags: [x], sources: [Src_1.x, web]}
          - {id: c, type: cloze, text: "{{c1::a::hint}} {{c2::b {{c3::c}}}}", extra: more}
          - {id: d, text: "{{c1::inferred cloze}}"}
        """,
    "numbers-and-booleans-are-text": """\
        version: 1
        deck: {id: 42, name: 2024}
        tags: [2024]
        notes:
          - {id: 7, front: true, back: 1.5}
        """,
    "empty-extra-and-description": """\
        deck:
          id: demo
          name: Demo
          description:
        notes:
          - id: a
            front: Q
            back: A
            extra:
        """,
    "no-notes-is-only-a-warning": HEAD + "notes: []\n",
    "custom-note-types": """\
        deck: {id: d, name: D}
        notetypes:
          vocab:
            name: Vocabulary
            id: 1342697561419
            fields: [Word, {name: Meaning, format: html}, {name: Said, format: text}, Sources, ID]
            sources-field: Sources
            id-field: ID
            sort-field: Word
            templates:
              - {name: Forward, front: "{{Word}}", back: "{{FrontSide}}<hr id=answer>{{Meaning}}"}
              - {front: "{{#Said}}{{Said}}{{/Said}}", back: "{{Word}}"}
            css: ".card { color: red }"
          gap:
            kind: cloze
            fields: [Text]
            templates: [{front: "{{cloze:Text}}", back: "{{cloze:Text}}"}]
        notes:
          - {id: a, type: vocab, fields: {Word: hola, Meaning: "<b>hello</b>"}, subdeck: "Spanish::Words"}
          - {id: b, type: gap, fields: {Text: "{{c1::x}}"}}
          - {id: c, front: Q, back: A, subdeck: Basics}
        """,
    "note-type-file": """\
        version: 1
        id: shared-types
        notetypes:
          t: {fields: [Q], templates: [{front: "{{Q}}", back: "{{Q}}"}]}
        """,
}

INVALID = {
    "top-level-list": "- a\n- b\n",
    "missing-deck": "notes:\n  - {id: a, front: Q, back: A}\n",
    "missing-notes": HEAD,
    "unknown-top-key": HEAD + "note: []\nnotes: []\n",
    "version-2": "version: 2\n" + HEAD + "notes: []\n",
    "deck-missing-name": "deck: {id: demo}\nnotes: []\n",
    "deck-unknown-key": "deck: {id: demo, name: Demo, author: me}\nnotes: []\n",
    "deck-id-uppercase": "deck: {id: Demo, name: Demo}\nnotes: []\n",
    "deck-id-too-long": "deck: {id: " + "a" * 101 + ", name: Demo}\nnotes: []\n",
    "deck-id-negative-number": "deck: {id: -1, name: Demo}\nnotes: []\n",
    "deck-name-empty-part": "deck: {id: demo, name: 'A:: ::B'}\nnotes: []\n",
    "deck-name-trailing-separator": "deck: {id: demo, name: 'A::'}\nnotes: []\n",
    "deck-name-blank": "deck: {id: demo, name: '  '}\nnotes: []\n",
    "tags-not-a-list": HEAD + "tags: a\nnotes: []\n",
    "tag-with-space": HEAD + "tags: [two words]\nnotes: []\n",
    "source-key-invalid": HEAD
    + "sources:\n  -bad: {title: T}\nnotes:\n  - {id: a, front: Q, back: A, sources: [-bad]}\n",
    "source-missing-title": HEAD
    + "sources:\n  s: {url: 'https://x.org'}\nnotes:\n  - {id: a, front: Q, back: A}\n",
    "source-unknown-key": HEAD
    + "sources:\n  s: {title: T, author: me}\nnotes:\n  - {id: a, front: Q, back: A, sources: [s]}\n",
    "source-url-not-http": HEAD
    + "sources:\n  s: {title: T, url: 'ftp://x.org'}\nnotes:\n  - {id: a, front: Q, back: A, sources: [s]}\n",
    "notes-not-a-list": HEAD + "notes: {id: a}\n",
    "note-not-a-mapping": HEAD + "notes:\n  - just text\n",
    "note-without-id": HEAD + "notes:\n  - {front: Q, back: A}\n",
    "note-id-invalid": HEAD + "notes:\n  - {id: Bad_Id, front: Q, back: A}\n",
    "note-unknown-key": HEAD + "notes:\n  - {id: a, front: Q, back: A, hint: h}\n",
    "note-unknown-type": HEAD + "notes:\n  - {id: a, type: reversed, front: Q, back: A}\n",
    "note-with-nothing": HEAD + "notes:\n  - {id: a}\n",
    "basic-missing-back": HEAD + "notes:\n  - {id: a, front: Q}\n",
    "basic-empty-front": HEAD + "notes:\n  - {id: a, front: '', back: A}\n",
    "basic-front-without-value": HEAD + "notes:\n  - id: a\n    front:\n    back: A\n",
    "basic-with-text": HEAD + "notes:\n  - {id: a, type: basic, front: Q, back: A, text: '{{c1::x}}'}\n",
    "reversed-with-text-only": HEAD + "notes:\n  - {id: a, type: basic-reversed, text: '{{c1::x}}'}\n",
    "cloze-with-front": HEAD + "notes:\n  - {id: a, type: cloze, front: Q, text: '{{c1::x}}'}\n",
    "cloze-missing-text": HEAD + "notes:\n  - {id: a, type: cloze}\n",
    "inferred-cloze-with-front-and-back": HEAD
    + "notes:\n  - {id: a, front: Q, back: A, text: '{{c1::x}}'}\n",
    "cloze-without-deletion": HEAD + "notes:\n  - {id: a, text: no deletion here}\n",
    "note-tags-not-a-list": HEAD + "notes:\n  - {id: a, front: Q, back: A, tags: x}\n",
    "custom-note-with-front": HEAD
    + "notetypes:\n  t: {fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\n"
    + "notes:\n  - {id: a, type: t, front: x, fields: {Q: q}}\n",
    "built-in-note-with-fields": HEAD + "notes:\n  - {id: a, front: Q, back: A, fields: {Front: x}}\n",
    "notetype-unknown-kind": HEAD
    + "notetypes:\n  t: {kind: reverse, fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\nnotes: []\n",
    "notetype-without-templates": HEAD + "notetypes:\n  t: {fields: [Q]}\nnotes: []\n",
    "notetype-field-name-with-colon": HEAD
    + "notetypes:\n  t: {fields: ['a:b'], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\nnotes: []\n",
    "notetype-key-is-built-in": HEAD
    + "notetypes:\n  basic: {fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\nnotes: []\n",
    "cloze-notetype-with-two-templates": HEAD
    + "notetypes:\n  t:\n    kind: cloze\n    fields: [T]\n    templates:\n"
    + "      - {front: '{{cloze:T}}', back: '{{cloze:T}}'}\n      - {front: '{{cloze:T}}x', back: '{{cloze:T}}'}\n"
    + "notes: []\n",
    "notetype-css-and-css-file": HEAD
    + "notetypes:\n  t: {fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}], css: x, css-file: y.css}\n"
    + "notes: []\n",
    "note-type-file-without-id": "notetypes:\n  t: {fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\n",
    "note-type-file-with-tags": "id: x\ntags: [a]\nnotetypes:\n  t: {fields: [Q], templates: [{front: '{{Q}}', back: '{{Q}}'}]}\n",
    "subdeck-empty-part": HEAD + "notes:\n  - {id: a, front: Q, back: A, subdeck: 'A::'}\n",
    "note-sources-not-a-list": HEAD
    + "sources:\n  s: {title: T}\nnotes:\n  - {id: a, front: Q, back: A, sources: s}\n",
}

# What only `factdeck check` can see: the schema accepts these, knowingly.
CHECK_ONLY = {
    "duplicate-note-id": HEAD + "notes:\n  - {id: a, front: Q, back: A}\n  - {id: a, front: Q2, back: A2}\n",
    "undefined-source": HEAD + "notes:\n  - {id: a, front: Q, back: A, sources: [nowhere]}\n",
    "unbalanced-cloze": HEAD + "notes:\n  - {id: a, text: '{{c1::open'}\n",
    "missing-image": HEAD + "notes:\n  - {id: a, front: '![x](missing.png)', back: A}\n",
    "template-unknown-field": HEAD
    + "notetypes:\n  t: {fields: [Q], templates: [{front: '{{Nope}}', back: '{{Q}}'}]}\nnotes: []\n",
    "undeclared-note-type": HEAD + "notes:\n  - {id: a, type: mine, fields: {Q: q}}\n",
    "missing-include": HEAD + "include: [nowhere.yaml]\nnotes: []\n",
}


# Diagnostic codes of problems a schema cannot see (see CHECK_ONLY).
CHECK_ONLY_CODES = {
    "duplicate-id",
    "unknown-source",
    "cloze",
    "render",
    "duplicate-deck",
    "duplicate-key",
    "yaml-syntax",
    "yaml-tag",
    "yaml-alias",
    "yaml-alias-bomb",
    "yaml-depth",
    "yaml-documents",
    "yaml-key",
    "encoding",
    "unknown-type",
    "unknown-field",
    "template",
    "template-cloze",
    "template-front",
    "duplicate-field",
    "duplicate-template",
    "duplicate-notetype",
    "notetype-name",
    "notetype-id",
    "include",
    "css-file",
    "no-cards",
}


def factdeck_view(path: Path):
    """The deck as factdeck reads it, as plain JSON data."""
    return json.loads(json.dumps(load(path.read_text(encoding="utf-8"), Collector(str(path)))))


def editor_view(path: Path):
    """The deck as an editor reads it: numbers and booleans typed."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def schema_accepts(data) -> bool:
    return VALIDATOR.is_valid(data)


def check_accepts(path: Path) -> bool:
    return not pipeline.check([str(path)]).errors


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deck.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_schema_file_equals_deck_schema():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: factdeck schema > schema/factdeck-deck.schema.json"
    )
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == deck_schema()
    assert schema_text().endswith("}\n") and schema_text().startswith('{\n  "$schema"')


def test_schema_is_a_valid_draft_2020_12_schema_with_help_for_editors():
    schema = deck_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["description"] and schema["examples"]
    note = schema["properties"]["notes"]["items"]
    assert all(prop.get("description") for prop in note["properties"].values())
    for example in schema["examples"]:
        VALIDATOR.validate(example)


def test_schema_command_prints_the_schema(run):
    result = run("schema")
    assert result.exit_code == 0
    assert result.stdout == schema_text()


@pytest.mark.parametrize("name", sorted(VALID))
def test_schema_accepts_what_check_accepts(tmp_path, name):
    path = _write(tmp_path, VALID[name])
    assert check_accepts(path)
    assert schema_accepts(factdeck_view(path)), list(VALIDATOR.iter_errors(factdeck_view(path)))
    assert schema_accepts(editor_view(path)), list(VALIDATOR.iter_errors(editor_view(path)))


@pytest.mark.parametrize("name", sorted(INVALID))
def test_schema_rejects_what_check_rejects(tmp_path, name):
    path = _write(tmp_path, INVALID[name])
    assert not check_accepts(path)
    assert not schema_accepts(factdeck_view(path))
    assert not schema_accepts(editor_view(path))


@pytest.mark.parametrize("name", sorted(CHECK_ONLY))
def test_schema_leaves_cross_references_and_cloze_syntax_to_check(tmp_path, name):
    path = _write(tmp_path, CHECK_ONLY[name])
    assert not check_accepts(path)
    assert schema_accepts(factdeck_view(path))


def test_a_note_with_both_front_back_and_text_or_neither_is_flagged_on_the_right_key():
    def errors(note):
        return sorted(
            (list(e.absolute_path), e.validator, e.message)
            for e in VALIDATOR.iter_errors({"deck": {"id": "d", "name": "D"}, "notes": [note]})
        )

    both = errors({"id": "a", "front": "Q", "back": "A", "text": "{{c1::x}}"})
    assert [(path, kind) for path, kind, _ in both] == [
        (["notes", 0, "back"], "not"),
        (["notes", 0, "front"], "not"),
    ]
    neither = errors({"id": "a"})
    assert neither == [
        (["notes", 0], "required", "'back' is a required property"),
        (["notes", 0], "required", "'front' is a required property"),
    ]


REPO_DECKS = sorted((REPO / "decks").glob("*.y*ml")) if (REPO / "decks").is_dir() else []


@pytest.mark.skipif(not REPO_DECKS, reason="no decks/*.yaml in the repository")
@pytest.mark.parametrize("path", REPO_DECKS, ids=[p.name for p in REPO_DECKS])
def test_every_deck_in_the_repository_validates_as_check_says(path):
    errors = pipeline.check([str(path)]).errors
    if not errors:
        assert schema_accepts(factdeck_view(path)), list(VALIDATOR.iter_errors(factdeck_view(path)))
        assert schema_accepts(editor_view(path)), list(VALIDATOR.iter_errors(editor_view(path)))
    elif not {d.code for d in errors} <= CHECK_ONLY_CODES:
        assert not schema_accepts(factdeck_view(path))


@given(st.text(alphabet=["a", ":", " ", "\t", "\n", "é"], max_size=10))
def test_deck_name_pattern_matches_validate_on_empty_parts(name):
    accepted_by_validate = all(part.strip() for part in name.split("::"))
    assert bool(re.search(DECK_NAME_PATTERN, name)) == accepted_by_validate
