"""From validated decks to notes as they reach Anki: rendered fields, identity, cards, content hash.

Identity never depends on content: the GUID comes from (deck id, note id) alone, and the deck's
Anki ID from its deck id, so editing a fact updates the note in place instead of adding one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import NamedTuple

from .diagnostics import Collector
from .model import Deck, Note
from .notetypes import BY_KEY, NoteType, card_ords
from .render import Renderer, sources_html


class Built(NamedTuple):
    """One note ready to write (a tuple: compact, and cheap to pass between processes)."""

    id: str
    guid: str
    notetype: NoteType
    flds: str  # the rendered fields joined by U+001F, as Anki stores them
    tags: list[str]
    ords: list[int]
    hash: str
    sources: list[str]  # cited source keys

    @property
    def fields(self) -> list[str]:
        return self.flds.split("\x1f")


@dataclass
class BuiltDeck:
    deck: Deck
    anki_id: int
    description: str  # HTML
    notes: list[Built]
    media: dict[str, str] = field(default_factory=dict)  # package name -> path

    @property
    def card_count(self) -> int:
        return sum(len(n.ords) for n in self.notes)

    def notetypes(self) -> dict[str, NoteType]:
        return {n.notetype.key: n.notetype for n in self.notes}


def deck_anki_id(deck_id: str) -> int:
    """A stable Anki deck ID from the deck's id (below 2**53, never Anki's Default deck 1)."""
    return int(hashlib.sha256(f"factdeck-deck:{deck_id}".encode()).hexdigest()[:13], 16) | (1 << 40)


_BASE91 = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "!#$%&()*+,-./:;<=>?@[]^_`{|}~"
)  # genanki.util.BASE91_TABLE


def note_guid(deck_id: str, note_id: str) -> str:
    """Exactly ``genanki.guid_for("factdeck", deck_id, note_id)``, without its per-byte loops."""
    value = int.from_bytes(hashlib.sha256(f"factdeck__{deck_id}__{note_id}".encode()).digest()[:8], "big")
    digits = []
    while value:
        value, rest = divmod(value, 91)
        digits.append(_BASE91[rest])
    return "".join(reversed(digits))


def assemble(deck: Deck, out: Collector) -> BuiltDeck:
    """Render every field of a deck; problems (missing images, ...) go to ``out``.

    The deck's validated notes are consumed: they become the BuiltDeck's notes.
    """
    renderer = deck_renderer(deck)
    assembler = NoteAssembler(deck, renderer, out)
    for note in deck.notes:
        assembler.add(note)
    deck.notes = []
    return BuiltDeck(
        deck, deck_anki_id(deck.id), describe(deck, renderer, out), assembler.built, dict(renderer.media)
    )


def deck_renderer(deck: Deck) -> Renderer:
    return Renderer(os.path.dirname(os.path.abspath(deck.path)))


def describe(deck: Deck, renderer: Renderer, out: Collector) -> str:
    """The deck description as HTML."""
    if not deck.description:
        return ""
    description, problems = renderer.field(deck.description)
    for problem in problems:
        out.error(deck.description_pos, "render", f"{problem} (in the deck description)")
    return description


class NoteAssembler:
    """Turns validated notes into notes as they reach Anki, one at a time.

    ``deck`` supplies the id, name, tags and sources every note shares.
    """

    def __init__(self, deck: Deck, renderer: Renderer, out: Collector):
        self.deck, self.out, self.renderer, self.field_html = deck, out, renderer, renderer.field
        self.built: list[Built] = []
        self._sources: dict[tuple[tuple[str, str], ...], str] = {}

    def add(self, note: Note) -> None:
        deck, field_html = self.deck, self.field_html
        values = {"id": note.id}
        for key, text in note.content.items():
            html, problems = field_html(text)
            for problem in problems:
                self.out.error(note.content_pos[key], "render", f"{problem} (in `{key}` of note `{note.id}`)")
            values[key] = html
        cited = tuple(zip(note.sources, note.locators))
        sources = self._sources.get(cited)
        if sources is None:
            sources = self._sources[cited] = sources_html(cited, deck.sources)
        values["sources"] = sources
        notetype = BY_KEY[note.type]
        fields = [values.get(f.key, "") for f in notetype.fields]
        tags = list(dict.fromkeys(deck.tags + note.tags))
        digest = hashlib.sha256(
            "\x1e".join((notetype.name, deck.name, " ".join(tags), *fields)).encode()
        ).hexdigest()[:20]
        self.built.append(
            Built(
                note.id,
                note_guid(deck.id, note.id),
                notetype,
                "\x1f".join(fields),
                tags,
                card_ords(notetype, note.clozes),
                digest,
                note.sources,
            )
        )
