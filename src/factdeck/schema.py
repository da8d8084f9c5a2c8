"""A JSON Schema of the deck file format (version 1), so editors check and explain deck files.

The schema mirrors ``validate.py`` for everything a schema can express. What it cannot
express stays with ``factdeck check``: duplicate note ids, a note citing a source key that is
not defined, the finer points of cloze syntax (balanced braces, ``c0``), missing images, and
YAML-level problems (duplicate keys, tags, aliases).

Editors parse YAML with YAML 1.2 types, so ``id: 42`` or ``back: true`` reach the schema as a
number or a boolean; factdeck reads every scalar as text, so the schema accepts those too.
It is declared as draft 2020-12 but uses only keywords that draft-07 tools (VS Code's YAML
extension, yaml-language-server) understand, and no ``$ref``, whose siblings draft-07 ignores.
``errorMessage`` and ``patternErrorMessage`` are VS Code extensions; validators ignore them.

The shipped copy, ``schema/factdeck-deck.schema.json``, is ``factdeck schema`` output; after
changing this module regenerate it with ``factdeck schema > schema/factdeck-deck.schema.json``.
"""

from __future__ import annotations

import json

from .validate import MAX_ID, NOTE_TYPES

SCHEMA_URL = "https://raw.githubusercontent.com/factdeck/factdeck/main/schema/factdeck-deck.schema.json"
SCHEMA_FILE = "schema/factdeck-deck.schema.json"  # relative to the repository root

ID_PATTERN = "^[a-z0-9][a-z0-9-]*$"
SOURCE_KEY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
URL_PATTERN = '^https?://[^\\s<>"]+$'
TAG_PATTERN = "^\\S+$"
NOT_BLANK = "\\S"
CLOZE_PATTERN = "\\{\\{c0*[1-9][0-9]*::"
# `A::B::C` where no part is blank (validate.py splits on `::` and strips each part).
_PART = "(?:(?!::)\\s)*(?!::)\\S(?:(?!::)[\\s\\S])*"
DECK_NAME_PATTERN = f"^{_PART}(?:::{_PART})*$"

_SCALAR = ["string", "number", "boolean"]

EXAMPLE = {
    "version": "1",
    "deck": {
        "id": "spanish-verbs",
        "name": "Languages::Spanish verbs",
        "description": "Common irregular verbs.",
    },
    "tags": ["spanish"],
    "sources": {"rae": {"title": "Diccionario de la lengua española", "url": "https://dle.rae.es/"}},
    "notes": [
        {"id": "ser-meaning", "front": "ser", "back": "to be (permanent)", "sources": ["rae"]},
        {"id": "ir-meaning", "type": "basic-reversed", "front": "ir", "back": "to go", "tags": ["motion"]},
        {
            "id": "ir-preterite",
            "text": "Yo {{c1::fui::ir, preterite}} al mercado.",
            "extra": "*ir* and *ser* share the preterite.",
        },
    ],
}


def _ident(what: str) -> dict:
    return {
        "description": f"{what}. Use lowercase letters, digits and '-', starting with a letter or digit, "
        f"at most {MAX_ID} characters.",
        "type": ["string", "integer"],
        "pattern": ID_PATTERN,
        "maxLength": MAX_ID,
        "minimum": 0,
        "patternErrorMessage": "Use lowercase letters, digits and '-', starting with a letter or digit.",
    }


def _text(description: str, required: bool = True, pattern: str = NOT_BLANK) -> dict:
    """A text field. factdeck reads every scalar as text; a required one must not be blank."""
    if not required:
        return {"description": description, "type": [*_SCALAR, "null"]}
    return {
        "description": description,
        "type": _SCALAR,
        "pattern": pattern,
        "patternErrorMessage": "Must not be empty.",
    }


def _tags(description: str) -> dict:
    return {
        "description": description,
        "type": "array",
        "items": {
            "description": "An Anki tag: one word, no spaces (use `::` for hierarchy).",
            "type": _SCALAR,
            "pattern": TAG_PATTERN,
            "patternErrorMessage": "A tag is one word: no spaces, not empty.",
        },
        "examples": [["pharmacology", "exam::part-1"]],
    }


def _note() -> dict:
    not_for_cloze = "`{0}` is for basic notes; a cloze note puts everything in `text`."
    not_for_basic = "`text` is for cloze notes; a basic note uses `front` and `back`."

    def forbidden(message: str) -> dict:
        return {"not": {}, "errorMessage": message}

    cloze_rules = {
        "required": ["text"],
        "properties": {
            "front": forbidden(not_for_cloze.format("front")),
            "back": forbidden(not_for_cloze.format("back")),
        },
    }
    basic_rules = {"required": ["front", "back"], "properties": {"text": forbidden(not_for_basic)}}
    return {
        "description": "One note. A note with `front` and `back` is basic (one card); with `text` it is a "
        "cloze (one card per cloze number). `type: basic-reversed` adds the back-to-front card.",
        "type": "object",
        "required": ["id"],
        "additionalProperties": False,
        "properties": {
            "id": _ident(
                "The note's id, unique in the deck. It is how Anki recognises the note when the deck "
                "is rebuilt: keep it when you edit the note; a new id makes a new note"
            ),
            "type": {
                "description": "The note type. Default: `cloze` when the note has `text`, else `basic`.",
                "enum": list(NOTE_TYPES),
                "markdownEnumDescriptions": [
                    "One card: front, then back.",
                    "Two cards: front to back, and back to front.",
                    "One card per cloze number in `text`: `{{c1::answer}}`, `{{c1::answer::hint}}`.",
                ],
            },
            "front": _text("Basic notes: the question side (Markdown)."),
            "back": _text("Basic notes: the answer side (Markdown)."),
            "text": _text(
                "Cloze notes: the text with deletions such as `{{c1::answer}}` or "
                "`{{c2::answer::hint}}`; clozes may nest.",
                pattern=CLOZE_PATTERN,
            )
            | {
                "type": "string",
                "patternErrorMessage": "Mark at least one cloze deletion, like `{{c1::answer}}`.",
            },
            "extra": _text("Optional: more detail shown below the answer (Markdown).", required=False),
            "tags": _tags("Tags for this note, added to the deck's `tags`."),
            "sources": {
                "description": "Keys of entries under the deck's `sources` that back this note, each "
                "optionally followed by a space and a locator (`fda-baclofen §5.1`, `nice-ng220 1.5.27`); "
                "shown on the answer side.",
                "type": "array",
                "items": {"type": _SCALAR, "pattern": NOT_BLANK},
            },
        },
        "allOf": [
            {"if": {"required": ["type"], "properties": {"type": {"const": "cloze"}}}, "then": cloze_rules},
            {
                "if": {"required": ["type"], "properties": {"type": {"enum": ["basic", "basic-reversed"]}}},
                "then": basic_rules,
            },
            {
                "if": {"not": {"required": ["type"]}},
                "then": {"if": {"required": ["text"]}, "then": cloze_rules, "else": basic_rules},
            },
        ],
    }


def deck_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a deck file, format version 1."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URL,
        "title": "factdeck deck file",
        "description": "Flashcards for Anki, written as YAML and compiled by `factdeck build`. "
        "Check a file with `factdeck check`.",
        "type": "object",
        "required": ["deck", "notes"],
        "additionalProperties": False,
        "properties": {
            "version": {
                "description": "The deck file format version. Optional; this factdeck reads version 1.",
                "enum": ["1", 1],
            },
            "deck": {
                "description": "The deck as Anki shows it.",
                "type": "object",
                "required": ["id", "name"],
                "additionalProperties": False,
                "properties": {
                    "id": _ident(
                        "The deck's id, unique across your decks. Notes are identified by deck id and "
                        "note id, so changing it makes every note new"
                    ),
                    "name": _text(
                        "The deck's name in Anki; `Parent::Child` nests decks.", pattern=DECK_NAME_PATTERN
                    )
                    | {"patternErrorMessage": "Must not be empty, nor have an empty part between `::`."},
                    "description": _text(
                        "Optional: shown on the deck's overview screen in Anki (Markdown).", required=False
                    ),
                },
                "examples": [{"id": "spanish-verbs", "name": "Languages::Spanish verbs"}],
            },
            "tags": _tags("Tags given to every note of the deck."),
            "sources": {
                "description": "References that notes cite by key (in a note's `sources`).",
                "type": "object",
                "propertyNames": {
                    "pattern": SOURCE_KEY_PATTERN,
                    "patternErrorMessage": "Use letters, digits, '.', '_' and '-'.",
                },
                "additionalProperties": {
                    "description": "One reference.",
                    "type": "object",
                    "required": ["title"],
                    "additionalProperties": False,
                    "properties": {
                        "title": _text("The reference as readers should find it."),
                        "url": {
                            "description": "Optional: an http:// or https:// address.",
                            "type": "string",
                            "pattern": URL_PATTERN,
                            "patternErrorMessage": "An http:// or https:// address without spaces.",
                        },
                    },
                },
                "examples": [
                    {"rae": {"title": "Diccionario de la lengua española", "url": "https://dle.rae.es/"}}
                ],
            },
            "notes": {
                "description": "The notes of the deck, each with a unique `id`.",
                "type": "array",
                "items": _note(),
            },
        },
        "examples": [EXAMPLE],
    }


def schema_text() -> str:
    """The schema as shipped: pretty-printed JSON with a trailing newline."""
    return json.dumps(deck_schema(), indent=2, ensure_ascii=False) + "\n"
