"""factdeck's own note types, with IDs fixed forever.

Fixed IDs let a later release restyle a note type in place (Anki applies new templates and
CSS when the note type's time is newer). Changing the field list is the expensive change
(users must import with "Merge note types"), so the fields are chosen to last: the note's
text, an Extra for nuance, its Sources, and its factdeck ID (which `factdeck diff` reads back
and users can search for).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str  # as Anki shows it
    key: str  # which rendered value fills it: front, back, text, extra, sources, id (custom: see below)
    format: str = "markdown"  # markdown | html | text (custom note types)


@dataclass(frozen=True)
class NoteType:
    key: str  # the `type:` a deck file names
    id: int
    name: str
    fields: tuple[Field, ...]
    templates: tuple[tuple[str, str, str], ...]  # (name, question, answer)
    css: str
    cloze: bool = False
    sort_field: int = 0  # index of the field Anki sorts and shows in the browser
    custom: bool = False  # declared in a deck or note-type file
    fronts: tuple[Any, ...] = field(default=(), compare=False)  # parsed question templates (custom)
    # files the templates and CSS name, bundled with every deck using the type: (package name, path)
    media: tuple[tuple[str, str], ...] = ()

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def definition_hash(self) -> str:
        """Changes exactly when what Anki stores for the note type changes."""
        parts: list[Any] = [self.name, self.field_names, self.templates, self.css, self.cloze]
        if self.custom:  # the built-in types' hashes stay what their locks hold
            parts += [self.sort_field, self.id]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


CSS = resources.files("factdeck").joinpath("card.css").read_text(encoding="utf-8")

_EXTRA = '{{#Extra}}<div class="fd-extra">{{Extra}}</div>{{/Extra}}'
_SOURCES = '{{#Sources}}<div class="fd-sources-box">Sources{{Sources}}</div>{{/Sources}}'


def _card(question: str, answer: str | None = None) -> tuple[str, str]:
    q = f'<div class="fd-card"><div class="fd-question">{question}</div></div>'
    a = (
        f'<div class="fd-card"><div class="fd-question">{question}</div><hr id="answer">'
        f'<div class="fd-answer">{answer}</div>{_EXTRA}{_SOURCES}</div>'
    )
    return q, a


_BASIC_FIELDS = (
    Field("Front", "front"),
    Field("Back", "back"),
    Field("Extra", "extra"),
    Field("Sources", "sources"),
    Field("ID", "id"),
)

BASIC = NoteType(
    key="basic",
    id=1764000000101,
    name="factdeck Basic",
    fields=_BASIC_FIELDS,
    templates=(("Card 1", *_card("{{Front}}", "{{Back}}")),),
    css=CSS,
)

BASIC_REVERSED = NoteType(
    key="basic-reversed",
    id=1764000000102,
    name="factdeck Basic (and reversed)",
    fields=_BASIC_FIELDS,
    templates=(("Card 1", *_card("{{Front}}", "{{Back}}")), ("Card 2", *_card("{{Back}}", "{{Front}}"))),
    css=CSS,
)

CLOZE = NoteType(
    key="cloze",
    id=1764000000103,
    name="factdeck Cloze",
    fields=(Field("Text", "text"), Field("Extra", "extra"), Field("Sources", "sources"), Field("ID", "id")),
    templates=(
        (
            "Cloze",
            '<div class="fd-card">{{cloze:Text}}</div>',
            f'<div class="fd-card">{{{{cloze:Text}}}}{_EXTRA}{_SOURCES}</div>',
        ),
    ),
    css=CSS,
    cloze=True,
)

BY_KEY = {nt.key: nt for nt in (BASIC, BASIC_REVERSED, CLOZE)}
BUILT_IN_IDS = frozenset(nt.id for nt in BY_KEY.values())
BUILT_IN_NAMES = frozenset(nt.name for nt in BY_KEY.values())

# Which value fills a custom type's sources-field and id-field; ':' cannot be in a field name.
SOURCES_KEY = ":sources"
ID_KEY = ":id"


def derived_id(namespace: str, key: str) -> int:
    """A custom note type's Anki ID from where it is declared and its key, never its content.

    ``namespace`` is the deck id for a type declared in a deck file and the note-type file's
    ``id`` for a shared one: both are chosen once and kept forever, like note ids, so editing
    a definition never changes the ID. The ID lies in [2**52, 2**53): above every ID Anki
    makes itself (milliseconds since 1970) and every built-in one, and exact in JavaScript.
    """
    digest = hashlib.sha256(f"factdeck-notetype:{namespace}:{key}".encode()).hexdigest()
    return int(digest[:13], 16) | (1 << 52)


def card_ords(note_type: NoteType, clozes: tuple[int, ...]) -> list[int]:
    """Which cards a note has: one per template, or one per distinct cloze number."""
    if note_type.cloze:
        return [n - 1 for n in clozes]
    return list(range(len(note_type.templates)))
