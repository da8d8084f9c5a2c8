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

from .customtypes import FORMATS, KINDS, MAX_NOTETYPE_ID
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
# What Anki accepts as a field name: no `:{}"`, not starting with `#/^`, no outer whitespace.
FIELD_NAME_PATTERN = '^[^#/^\\s:{}"](?:[^:{}"]*[^:{}"\\s])?$'

_SCALAR = ["string", "number", "boolean"]

JSONSchema = dict[str, object]  # a JSON object: values are JSON too

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


def _ident(what: str) -> JSONSchema:
    return {
        "description": f"{what}. Use lowercase letters, digits and '-', starting with a letter or digit, "
        f"at most {MAX_ID} characters.",
        "type": ["string", "integer"],
        "pattern": ID_PATTERN,
        "maxLength": MAX_ID,
        "minimum": 0,
        "patternErrorMessage": "Use lowercase letters, digits and '-', starting with a letter or digit.",
    }


def _text(description: str, required: bool = True, pattern: str = NOT_BLANK) -> JSONSchema:
    """A text field. factdeck reads every scalar as text; a required one must not be blank."""
    if not required:
        return {"description": description, "type": [*_SCALAR, "null"]}
    return {
        "description": description,
        "type": _SCALAR,
        "pattern": pattern,
        "patternErrorMessage": "Must not be empty.",
    }


def _tags(description: str) -> JSONSchema:
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


def _note() -> JSONSchema:
    not_for_cloze = "`{0}` is for basic notes; a cloze note puts everything in `text`."
    not_for_basic = "`text` is for cloze notes; a basic note uses `front` and `back`."

    def forbidden(message: str) -> JSONSchema:
        return {"not": {}, "errorMessage": message}

    cloze_rules = {
        "required": ["text"],
        "properties": {
            "front": forbidden(not_for_cloze.format("front")),
            "back": forbidden(not_for_cloze.format("back")),
        },
    }
    basic_rules = {"required": ["front", "back"], "properties": {"text": forbidden(not_for_basic)}}
    not_for_builtin = forbidden("`fields` is for notes of note types declared under `notetypes`.")
    not_for_custom = (
        "`{0}` is for factdeck's built-in types; a note of your own type puts its content under `fields`."
    )
    custom_rules = {
        "properties": {
            key: forbidden(not_for_custom.format(key)) for key in ("front", "back", "text", "extra")
        }
    }
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
                "description": "The note type: a built-in one, or the key of one under `notetypes` (in this "
                "file or an included one). Default: `cloze` when the note has `text`, else `basic`.",
                "type": "string",
                "anyOf": [
                    {
                        "enum": list(NOTE_TYPES),
                        "markdownEnumDescriptions": [
                            "One card: front, then back.",
                            "Two cards: front to back, and back to front.",
                            "One card per cloze number in `text`: `{{c1::answer}}`, `{{c1::answer::hint}}`.",
                        ],
                    },
                    {"pattern": ID_PATTERN},
                ],
            },
            "fields": {
                "description": "Notes of your own note types: field name -> value, in the field's format "
                "(Markdown unless the note type says `html` or `text`). A field left out is empty.",
                "type": "object",
                "propertyNames": {"pattern": FIELD_NAME_PATTERN},
                "additionalProperties": {"type": [*_SCALAR, "null"]},
            },
            "subdeck": _text(
                "Optional: put this note's cards in a subdeck of the deck, `Part::Chapter` nesting "
                "further. Anki never moves cards already in a collection when a later release moves a note.",
                pattern=DECK_NAME_PATTERN,
            )
            | {"patternErrorMessage": "Must not be empty, nor have an empty part between `::`."},
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
            "guid": {
                "description": "Optional: the note's Anki GUID, kept by `factdeck import` so that users' "
                "copies of an imported deck update in place. Without it the GUID comes from the deck id "
                "and the note id.",
                "type": "string",
                "pattern": "^[!-~]{1,64}$",
                "patternErrorMessage": "1 to 64 printable ASCII characters without spaces.",
            },
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
            {
                "if": {"required": ["type"], "properties": {"type": {"not": {"enum": list(NOTE_TYPES)}}}},
                "then": custom_rules,
                "else": {"properties": {"fields": not_for_builtin}},
            },
        ],
    }


def _notetype() -> JSONSchema:
    """One note type under `notetypes`."""

    def field_name(description: str) -> JSONSchema:
        return {"description": description, "type": "string", "pattern": FIELD_NAME_PATTERN}

    template = {
        "description": "One card template, in Anki's template syntax: `{{Field}}`, `{{#Field}}...{{/Field}}`, "
        "`{{^Field}}...{{/Field}}`, `{{FrontSide}}`, `{{cloze:Field}}`, `{{hint:Field}}`, `{{type:Field}}`, "
        "`{{text:Field}}`. It goes to Anki untouched.",
        "type": "object",
        "required": ["front", "back"],
        "additionalProperties": False,
        "properties": {
            "name": _text("The template's name (Anki's card type name). Default: `Card 1`, `Card 2`, ..."),
            "front": _text("The question side. A card is made only when it shows a field that is not empty."),
            "back": _text("The answer side; `{{FrontSide}}` repeats the question.", required=False),
        },
    }
    return {
        "description": "A note type of your own: its fields, card templates and CSS.",
        "type": "object",
        "required": ["fields", "templates"],
        "additionalProperties": False,
        "properties": {
            "name": _text("Anki's name for the note type. Default: its key."),
            "kind": {
                "description": "`standard` (default): one card per template whose front is not empty. "
                "`cloze`: one template, one card per cloze number.",
                "enum": list(KINDS),
            },
            "id": {
                "description": "Optional: pin the note type's Anki ID (for a note type that already exists in "
                "users' collections). Default: derived from the file's id and the key, never from the content.",
                "type": ["integer", "string"],
                "pattern": "^[0-9]+$",
                "minimum": 1,
                "maximum": MAX_NOTETYPE_ID,
            },
            "fields": {
                "description": "The fields, in Anki's order: a name, or `{name: ..., format: ...}`.",
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        field_name("A field name (format: markdown)."),
                        {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": field_name("The field's name."),
                                "format": {
                                    "description": "`markdown` (default), `html` (kept as written, made safe) "
                                    "or `text` (shown exactly as typed).",
                                    "enum": list(FORMATS),
                                },
                            },
                        },
                    ]
                },
            },
            "sources-field": field_name("Optional: the field factdeck fills with the note's cited sources."),
            "id-field": field_name("Optional: the field factdeck fills with the note's id."),
            "sort-field": field_name("Optional: the field Anki's browser sorts by. Default: the first."),
            "templates": {
                "description": "The card templates: one or more (a cloze type: exactly one).",
                "type": "array",
                "minItems": 1,
                "items": template,
            },
            "css": _text("The note type's CSS.", required=False),
            "css-file": _text("A CSS file for the note type, relative to this file."),
        },
        "allOf": [
            {
                "if": {"required": ["kind"], "properties": {"kind": {"const": "cloze"}}},
                "then": {"properties": {"templates": {"maxItems": 1}}},
            },
            {"not": {"required": ["css", "css-file"]}, "errorMessage": "Use `css` or `css-file`, not both."},
        ],
    }


def _notetypes() -> JSONSchema:
    return {
        "description": "Note types of your own, by key (what notes name in `type`).",
        "type": "object",
        "propertyNames": {
            "pattern": ID_PATTERN,
            "not": {"enum": list(NOTE_TYPES)},
            "patternErrorMessage": "Use lowercase letters, digits and '-'; not a built-in type's key.",
        },
        "additionalProperties": _notetype(),
    }


def deck_schema() -> JSONSchema:
    """The JSON Schema (draft 2020-12) of a deck file, format version 1."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URL,
        "title": "factdeck deck file",
        "description": "Flashcards for Anki, written as YAML and compiled by `factdeck build`. "
        "Check a file with `factdeck check`.",
        "type": "object",
        "additionalProperties": False,
        "if": {"anyOf": [{"required": ["deck"]}, {"required": ["notes"]}]},
        "then": {
            "required": ["deck", "notes"],
            "properties": {
                "id": {"not": {}, "errorMessage": "`id` is for note-type files; a deck's id is under `deck`."}
            },
        },
        "else": {
            "description": "A note-type file: note types shared by the decks that `include` it.",
            "required": ["id", "notetypes"],
            "propertyNames": {"enum": ["version", "id", "notetypes"]},
        },
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
                    "media": _text(
                        "Optional: a folder, relative to the deck file, whose files are bundled under "
                        "their own names (`factdeck import` writes one). Fields use them by name: "
                        '`<img src="heart.png">`, `[sound:heart.mp3]`.'
                    ),
                    "missing-media": {
                        "description": "Optional: names of media files that fields use but the deck does "
                        "not have (`factdeck import` lists those its package lacked). Such references are "
                        "kept as written, and the cards show the file only in collections that have it.",
                        "type": "array",
                        "items": {"type": "string", "pattern": NOT_BLANK},
                        "examples": [["heart.png", "beat.mp3"]],
                    },
                },
                "examples": [{"id": "spanish-verbs", "name": "Languages::Spanish verbs"}],
            },
            "id": _ident(
                "Note-type files only: the file's id. The Anki IDs of its note types derive from it, so it "
                "never changes"
            ),
            "include": {
                "description": "Note-type files whose note types this deck uses, relative to this file.",
                "type": "array",
                "items": {"type": "string", "pattern": NOT_BLANK},
                "examples": [["notetypes/pharmacology.yaml"]],
            },
            "notetypes": _notetypes(),
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
