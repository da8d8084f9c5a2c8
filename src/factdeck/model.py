"""The validated deck, as plain data: what the rest of the pipeline works from."""

from __future__ import annotations

from dataclasses import dataclass, field

from .notetypes import NoteType

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
    type: str  # basic | basic-reversed | cloze, or the key of a custom note type
    content: dict[str, str]  # front/back/text/extra as written; a custom type's field name -> value
    content_pos: dict[str, Pos]
    tags: list[str]
    sources: list[str]
    pos: Pos
    clozes: tuple[int, ...] = ()  # cloze numbers, sorted; empty for basic notes
    sources_pos: list[Pos] = field(default_factory=list)
    locators: list[str] = field(default_factory=list)  # per cited source: "§5.1", or "" for none
    subdeck: str = ""  # "A::B": the cards go to "<deck name>::A::B"
    guid: str | None = None  # an explicit Anki GUID (imported notes keep theirs); else derived


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
    name_pos: Pos = (0, 0)
    # each subdeck spelling the notes use, where it is first written (checked by names.check_deck)
    subdeck_pos: dict[str, Pos] = field(default_factory=dict)
    notetypes: dict[str, NoteType] = field(default_factory=dict)  # custom types by key, included ones too
    unusable_types: set[str] = field(default_factory=set)  # declared with errors (already reported)
    media: str = ""  # a folder of media bundled under their own names, relative to the deck file
    media_pos: Pos = (0, 0)
    # names fields use that the deck does not have (an imported package lacked them): kept as written
    missing_media: dict[str, Pos] = field(default_factory=dict)
    missing_media_pos: Pos = (0, 0)
