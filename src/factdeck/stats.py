"""`factdeck stats`: what each deck holds, by note type and tag, and which notes cite no source."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .assemble import BuiltDeck
from .terminal import printable
from .validate import NOTE_TYPES


@dataclass
class DeckStats:
    id: str
    name: str
    path: str
    notes: dict[str, int] = field(default_factory=dict)  # note type key -> notes (built-ins first)
    cards: dict[str, int] = field(default_factory=dict)  # note type -> cards
    tags: list[tuple[str, int]] = field(default_factory=list)  # most used first
    without_sources: list[str] = field(default_factory=list)  # note ids, in file order

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "notes": sum(self.notes.values()),
            "cards": sum(self.cards.values()),
            "types": {kind: {"notes": self.notes[kind], "cards": self.cards[kind]} for kind in self.notes},
            "tags": [{"tag": tag, "notes": count} for tag, count in self.tags],
            "without_sources": self.without_sources,
        }


def deck_stats(built: BuiltDeck) -> DeckStats:
    """Counts for one deck. Tags are the ones Anki gets: the deck's tags plus each note's own."""
    stats = DeckStats(
        built.deck.id,
        built.deck.name,
        built.deck.path,
        notes=dict.fromkeys(NOTE_TYPES, 0),
        cards=dict.fromkeys(NOTE_TYPES, 0),
    )
    for key in sorted(built.deck.notetypes):  # custom types, also those no note uses yet
        stats.notes[key] = stats.cards[key] = 0
    tags: Counter[str] = Counter()
    for note in built.notes:
        stats.notes[note.notetype.key] += 1
        stats.cards[note.notetype.key] += len(note.ords)
        tags.update(note.tags)
    stats.tags = sorted(tags.items(), key=lambda item: (-item[1], item[0]))
    stats.without_sources = [note.id for note in built.notes if not note.sources]
    return stats


def as_json(decks: list[DeckStats]) -> dict[str, object]:
    return {
        "decks": [d.as_json() for d in decks],
        "total": {
            "decks": len(decks),
            "notes": sum(sum(d.notes.values()) for d in decks),
            "cards": sum(sum(d.cards.values()) for d in decks),
        },
    }


def _table(header: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers, two spaces between columns."""
    cells = [header] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    return lines


def format_text(decks: list[DeckStats], width: int = 100) -> str:
    blocks = []
    for d in decks:
        lines = [f"{d.id}: {printable(d.name)} ({printable(d.path)})"]
        rows = [(kind, d.notes[kind], d.cards[kind]) for kind in d.notes]
        rows.append(("total", sum(d.notes.values()), sum(d.cards.values())))
        lines += ["  " + line for line in _table(("type", "notes", "cards"), rows)]
        lines.append("")
        if d.tags:
            tags = [(printable(tag), count) for tag, count in d.tags]
            lines += ["  " + line for line in _table(("tag", "notes"), tags)]
        else:
            lines.append("  no tags")
        lines.append("")
        if d.without_sources:
            lines.append(f"  notes without sources: {len(d.without_sources)}")
            lines += textwrap.wrap(
                ", ".join(d.without_sources),
                width=width,
                initial_indent="    ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        else:
            lines.append("  notes without sources: none")
        blocks.append("\n".join(lines))
    if len(decks) > 1:
        notes = sum(sum(d.notes.values()) for d in decks)
        cards = sum(sum(d.cards.values()) for d in decks)
        blocks.append(f"total: {len(decks)} decks, {notes} notes, {cards} cards")
    return "\n\n".join(blocks)
