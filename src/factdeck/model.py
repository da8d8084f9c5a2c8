"""The validated deck, as plain data: what the rest of the pipeline works from."""

from __future__ import annotations

from dataclasses import dataclass, field

Pos = tuple[int, int]


@dataclass
class Source:
    key: str
    title: str
    url: str | None
    pos: Pos


@dataclass
class Note:
    id: str
    type: str  # basic | basic-reversed | cloze
    content: dict[str, str]  # front/back/text/extra as written
    content_pos: dict[str, Pos]
    tags: list[str]
    sources: list[str]
    pos: Pos
    clozes: tuple[int, ...] = ()  # cloze numbers, sorted; empty for basic notes
    sources_pos: list[Pos] = field(default_factory=list)
    locators: list[str] = field(default_factory=list)  # per cited source: "§5.1", or "" for none


@dataclass
class Deck:
    path: str
    id: str
    name: str
    description: str
    tags: list[str]
    sources: dict[str, Source]
    notes: list[Note]
    id_pos: Pos = (0, 0)
    description_pos: Pos = (0, 0)
