"""From validated decks to notes as they reach Anki: rendered fields, identity, cards, content hash.

Identity never depends on content: the GUID comes from (deck id, note id) alone, and the deck's
Anki ID from its deck id, so editing a fact updates the note in place instead of adding one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from . import cardhtml, cloze, templates
from .ankifiles.rows import checksum, sort_field
from .diagnostics import Collector, Diagnostic
from .history import first_token
from .model import Deck, Note
from .notetypes import BY_KEY, ID_KEY, SOURCES_KEY, NoteType, card_ords
from .render import Renderer, Warn, html_field, sounds, sources_html, text_field
from .templates import cloze_fields, nonempty_names, renders_with_fields


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
    subdeck: str = ""  # "A::B" below the deck, or "" for the deck itself
    own_guid: bool = False  # the GUID is the note's own `guid:`, not derived from its id
    first: str = ""  # its history token as shipped once (history.first_token), when made early
    csum: int | None = None  # its Anki notes row's checksum (ankifiles.rows), when made early

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
    folder: frozenset[str] = frozenset()  # the names of the media folder's files (the rest: hashed)

    @property
    def card_count(self) -> int:
        return sum(len(n.ords) for n in self.notes)

    def notetypes(self) -> dict[str, NoteType]:
        return {n.notetype.key: n.notetype for n in self.notes}

    def subdecks(self) -> list[str]:
        """Every subdeck the notes use, parents included ("A::B" brings "A"), sorted."""
        found: set[str] = set()
        for note in self.notes:
            if note.subdeck:
                parts = note.subdeck.split("::")
                found.update("::".join(parts[: i + 1]) for i in range(len(parts)))
        return sorted(found)


_DROPPED = "(a cloze in a link address, or in an attribute or other HTML the sanitiser removes, is dropped)"


def subdeck_anki_id(deck_id: str, subdeck: str) -> int:
    """A subdeck's Anki ID; `::` cannot occur in a deck id, so it never equals a deck's."""
    return deck_anki_id(f"{deck_id}::{subdeck}")


def duplicate_guids(decks: list[BuiltDeck]) -> list[Diagnostic]:
    """Two notes with one GUID would be one note in Anki. Derived GUIDs never clash (ids are
    unique per deck); explicit ones (`guid:`) can, also across decks and across the pieces of
    a large file, so the check runs once every note is known."""
    seen: dict[str, tuple[str, str]] = {}
    found = []
    for built in decks:
        for note in built.notes:
            first = seen.setdefault(note.guid, (built.deck.path, note.id))
            if first != (built.deck.path, note.id):
                where = "" if first[0] == built.deck.path else f" in {first[0]}"
                found.append(
                    Diagnostic(
                        built.deck.path,
                        0,
                        0,
                        "duplicate-guid",
                        f"note `{note.id}` has the guid `{note.guid}` of note `{first[1]}`{where}",
                    )
                )
    return found


def deck_anki_id(deck_id: str) -> int:
    """A stable Anki deck ID from the deck's id (below 2**53, never Anki's Default deck 1)."""
    return int(hashlib.sha256(f"factdeck-deck:{deck_id}".encode()).hexdigest()[:13], 16) | (1 << 40)


_BASE91 = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "!#$%&()*+,-./:;<=>?@[]^_`{|}~"
)  # genanki.util.BASE91_TABLE


def note_guid(deck_id: str, note_id: str) -> str:
    """Exactly ``genanki.guid_for("factdeck", deck_id, note_id)``, without its per-byte loops."""
    return base91(
        int.from_bytes(hashlib.sha256(f"factdeck__{deck_id}__{note_id}".encode()).digest()[:8], "big")
    )


def base91(value: int) -> str:
    """genanki's base 91 digits of ``value``, two at a time (every note of a first build needs one)."""
    pairs = []
    while value >= _PAIR:
        value, rest = divmod(value, _PAIR)
        pairs.append(_BASE91_PAIRS[rest])
    pairs.append(_BASE91_PAIRS[value] if value >= len(_BASE91) else _BASE91[value] if value else "")
    return "".join(reversed(pairs))


_BASE91_PAIRS = [a + b for a in _BASE91 for b in _BASE91]
_PAIR = len(_BASE91_PAIRS)


# What one card adds to the output, in characters: its row in the package's cards table, and
# its front and back in a preview. Counted so that notes fanning out to millions of cards (many
# templates, many cloze numbers) hit the output limit as large text does.
CARD_CHARS = 50


def output_limit(source_chars: int) -> int:
    """How much card text and tags a deck file of ``source_chars`` characters may make: deck-wide
    tags and source titles are copied into every note, so a small file could make a huge package."""
    return 10 * source_chars + 10_000_000


def assemble(deck: Deck, out: Collector, limit: int | None = None) -> BuiltDeck:
    """Render every field of a deck; problems (missing images, ...) go to ``out``.

    The deck's validated notes are consumed: they become the BuiltDeck's notes. ``limit``: see
    ``NoteAssembler``.
    """
    renderer = deck_renderer(deck)
    assembler = NoteAssembler(deck, renderer, out, limit)
    for note in deck.notes:
        assembler.add(note)
    deck.notes = []
    description = describe(deck, renderer, out)
    report_unused_media(deck, renderer, renderer.media, out)
    return BuiltDeck(
        deck,
        deck_anki_id(deck.id),
        description,
        assembler.built,
        dict(renderer.media),
        frozenset(renderer.folder_files),
    )


def deck_renderer(deck: Deck) -> Renderer:
    root = os.path.dirname(os.path.abspath(deck.path))
    renderer = Renderer(root, os.path.join(root, deck.media) if deck.media else None, deck.missing_media)
    for nt in deck.notetypes.values():
        renderer.media.update(nt.media)  # what its templates and CSS name (customtypes)
    return renderer


def describe(deck: Deck, renderer: Renderer, out: Collector) -> str:
    """The deck description as HTML; problems with the deck's media folder are reported here too."""
    for problem in renderer.media_problems:
        out.error(deck.media_pos, "media", problem)
    absent = [name for name in deck.missing_media if name not in renderer.folder_files]
    for name in deck.missing_media:
        if name in renderer.folder_files:
            out.warning(
                deck.missing_media[name],
                "missing-media",
                f"`{name}` is in the media folder, so it is bundled: remove it from `missing-media`",
            )
    if absent:
        out.warning(
            deck.missing_media_pos,
            "missing-media",
            f"{len(absent)} media file{'s' * (len(absent) != 1)} the fields name {'is' if len(absent) == 1 else 'are'} "
            "not in the package (`missing-media`): their cards show them only in collections that "
            "already have them; add them to the media folder to ship them",
        )
    if not deck.description:
        return ""
    description, problems = renderer.field(deck.description)
    for problem in problems:
        report = out.warning if isinstance(problem, Warn) else out.error
        report(deck.description_pos, "render", f"{problem} (in the deck description)")
    return description


def report_unused_media(deck: Deck, renderer: Renderer, bundled: dict[str, str], out: Collector) -> None:
    """A warning for each file of the media folder that is not bundled, at the `media:` key."""
    for name in renderer.unused_media(bundled):
        out.warning(
            deck.media_pos,
            "media-unused",
            f"media file `{name}` is left out of the package: no field names it in `<img src>` or "
            "`[sound:]` and its name does not start with `_`, so Anki's import would leave it out (and "
            "its Check Media delete it); name it in a field, or, for a template or a style, rename it "
            "to start with `_`",
        )


class NoteAssembler:
    """Turns validated notes into notes as they reach Anki, one at a time.

    A note's subdeck is not part of its content hash: Anki's import never moves cards that
    are already in a collection (measured in tests/test_notetypes.py), so moving a note to
    another subdeck must not make it "updated" and overwrite what users changed in it.

    ``deck`` supplies the id, name, tags and sources every note shares.
    Past ``limit`` characters of card text and tags (see ``output_limit``) it reports an error
    and stops.
    """

    def __init__(self, deck: Deck, renderer: Renderer, out: Collector, limit: int | None = None):
        self.deck, self.out, self.renderer, self.field_html = deck, out, renderer, renderer.field
        self.built: list[Built] = []
        self._sources: dict[tuple[tuple[str, str], ...], str] = {}
        self.types = {**BY_KEY, **deck.notetypes}
        self._html: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._clozed: dict[str, list[tuple[int, bool]]] = {}  # cloze type -> see _cloze_cards
        self.size = 0  # characters of card text and tags made so far
        self.limit = limit
        # Make each note's first history token and its notes row's checksum here (Built.first,
        # Built.csum): worth it where this runs on several cores at once (shards.py), as most notes
        # of a large first build need both.
        self.first_tokens = False

    def add(self, note: Note) -> None:
        if self.limit is not None and self.size > self.limit:
            return
        notetype = self.types[note.type]
        if notetype.custom:
            self._add_custom(note, notetype)
            return
        deck, field_html = self.deck, self.field_html
        values = {"id": note.id}
        for key, text in note.content.items():
            html, problems = field_html(text)
            for problem in problems:
                self._problem(note.content_pos[key], problem, f"`{key}` of note `{note.id}`")
            values[key] = html
        cited = tuple(zip(note.sources, note.locators))
        sources = self._sources.get(cited)
        if sources is None:
            sources = self._sources[cited] = sources_html(cited, deck.sources)
        values["sources"] = sources
        fields = [values.get(f.key, "") for f in notetype.fields]
        ords = self._cards(note, notetype, values) if notetype.cloze else card_ords(notetype, ())
        self._append(note, notetype, fields, list(dict.fromkeys(deck.tags + note.tags)), ords)

    def _append(
        self, note: Note, notetype: NoteType, fields: list[str], tags: list[str], ords: list[int]
    ) -> None:
        """The note in its final form: what every note type shares once its fields are HTML."""
        deck = self.deck
        joined_tags, flds = " ".join(tags), "\x1f".join(fields)
        digest = hashlib.sha256(
            "\x1e".join((notetype.name, deck.name, joined_tags, *fields)).encode()
        ).hexdigest()[:20]
        self._count(note, len(flds) + len(joined_tags) + CARD_CHARS * len(ords))
        derived = note_guid(deck.id, note.id)
        self.built.append(
            Built(
                note.id,
                derived if note.guid is None else note.guid,
                notetype,
                flds,
                tags,
                ords,
                digest,
                note.sources,
                note.subdeck,
                note.guid is not None and note.guid != derived,
                first_token(notetype.key, flds, tags) if self.first_tokens else "",
                checksum(sort_field(flds)) if self.first_tokens else None,
            )
        )

    def _cards(self, note: Note, notetype: NoteType, values: dict[str, str]) -> list[int]:
        """A cloze note's cards as Anki counts them: in the final HTML of every field."""
        what = f"note `{note.id}`"
        html = values.get("text", "")
        asked = cloze.card_numbers(html)
        where = note.content_pos.get("text", note.pos)
        if not asked:
            if note.clozes:
                self.out.error(
                    where,
                    "cloze",
                    f"no cloze deletion of `text` of {what} survives rendering {_DROPPED}; Anki would make no card",
                )
            else:
                self.out.error(
                    where,
                    "cloze",
                    f"`text` of {what} has no cloze deletion; mark one like `{{{{c1::answer}}}}`",
                )
        else:
            if max(asked) > cloze.MAX_CLOZE:
                self.out.error(
                    where,
                    "cloze",
                    f"cloze number c{max(asked)} in `text` of {what} is above the supported maximum c{cloze.MAX_CLOZE}",
                )
            if not asked.issuperset(note.clozes):
                self._lost(where, f"`text` of {what}", note.content["text"], note.clozes, asked)
            if self.renderer.braced and html in self.renderer.braced:  # rendering may have broken a cloze
                self._broken(where, f"`text` of {what}", html)
        found = set(asked)
        for f in notetype.fields:  # Anki counts clozes in every field, not only in `text`
            html = values.get(f.key, "")
            if f.key == "text" or "{{c" not in html:
                continue
            stray = sorted(cloze.card_numbers(html) - asked)
            if stray:
                numbers = ", ".join(f"c{n}" for n in stray)
                self.out.error(
                    note.content_pos.get(f.key) or (note.sources_pos[:1] or [note.pos])[0],
                    "cloze",
                    f"`{f.key}` of {what} holds cloze {numbers}, which `text` does not: Anki would make "
                    f"a card whose front shows no gap, asking nothing; write the cloze in `text` or take it "
                    f"out of `{f.key}`",
                )
                found.update(stray)
        return sorted({min(n, cloze.MAX_CLOZE) - 1 for n in found})

    def _lost(
        self, where: tuple[int, int], field: str, typed: str, numbers: Iterable[int], read: set[int]
    ) -> None:
        """Clozes typed in a field that make no card (Anki reads fewer in its final HTML)."""
        lost = [n for n in numbers if n not in read]
        deep = set(lost) - cloze.card_numbers(typed)  # not even in the text as typed: too deep
        for group, why in (
            ([n for n in lost if n not in deep], f"does not survive rendering {_DROPPED}"),
            (
                [n for n in lost if n in deep],
                f"is nested more than {cloze.ANKI_MAX_OPEN} deep: Anki reads deeper openers as plain text",
            ),
        ):
            if group:
                labels = ", ".join(f"c{n}" for n in group)
                self.out.error(
                    where, "cloze", f"cloze {labels} in {field} {why}, so Anki makes no card for it"
                )

    def _broken(self, where: tuple[int, int], field: str, html: str, in_tags: bool = True) -> None:
        """Clozes whose rendering breaks the field's HTML on every card (see cloze.breakage)."""
        inside, unclosed = cloze.breakage(html)
        if inside and in_tags:
            labels = ", ".join(dict.fromkeys(f"c{label}" for label in inside))
            self.out.error(
                where,
                "cloze",
                f"cloze {labels} in {field} is inside an HTML tag (an attribute, such as an image's alt "
                "text or a title): Anki writes the HTML of its gap into the tag, which breaks the tag and "
                "shows the rest of it as text; move the cloze out of the tag",
            )
        if unclosed is not None:
            self.out.error(
                where,
                "cloze",
                f"cloze c{unclosed} in {field} is never closed once rendered (Markdown escapes and "
                "character references make braces too): Anki drops it with everything after it",
            )

    def _problem(self, pos: tuple[int, int], problem: str, where: str) -> None:
        """A problem the renderer found in a field: an error, or a warning when it says so."""
        report = self.out.warning if isinstance(problem, Warn) else self.out.error
        report(pos, "render", f"{problem} (in {where})")

    def _count(self, note: Note, chars: int) -> None:
        """Add a note's card text and tags to the total, reporting once when it passes the limit."""
        self.size += chars
        if self.limit is not None and self.size > self.limit:
            self.out.error(
                note.pos,
                "too-large",
                f"the notes up to here make more than {self.limit:,} characters of card text and tags "
                f"(each card counting {CARD_CHARS}), over ten times the deck file: deck-wide `tags` and "
                "source titles are copied into every note, and every template or cloze number makes a card "
                "of each note; shorten them or make fewer cards",
            )

    def _sources_html(self, note: Note) -> str:
        cited = tuple(zip(note.sources, note.locators))
        sources = self._sources.get(cited)
        if sources is None:
            sources = self._sources[cited] = sources_html(cited, self.deck.sources)
        return sources

    def _add_custom(self, note: Note, notetype: NoteType) -> None:
        """A note of a custom type: each field in its format, cards by Anki's own rule."""
        deck = self.deck
        fields: list[str] = []
        for f in notetype.fields:
            if f.key == SOURCES_KEY:
                fields.append(self._sources_html(note))
                continue
            if f.key == ID_KEY:
                fields.append(note.id)
                continue
            text = note.content.get(f.name, "")
            if not text:
                fields.append("")
                continue
            problems: tuple[str, ...] = ()
            if f.format == "text":
                value = text_field(text)
                if "[sound:" in value:  # Anki plays it even from a text field
                    value, problems = sounds(self.renderer, value)
            elif f.format == "html":
                cached = self._html.get(text)
                if cached is None:
                    cached = self._html[text] = html_field(self.renderer, text)
                value, problems = cached
            else:
                value, problems = self.field_html(text)
            for problem in problems:
                self._problem(note.content_pos[f.name], problem, f"field `{f.name}` of note `{note.id}`")
            fields.append(value)
        tags = list(dict.fromkeys(deck.tags + note.tags))
        ords = custom_card_ords(notetype, fields, bool(tags))
        if not ords:
            if notetype.cloze:
                self._no_cloze(note, notetype)
            else:
                self.out.error(
                    note.pos,
                    "no-cards",
                    f"note `{note.id}` makes no card: with its fields, the front of every template of "
                    f"note type `{notetype.key}` is empty",
                )
            return
        if notetype.cloze:
            self._cloze_cards(note, notetype, fields, bool(tags), ords)
        self._append(note, notetype, fields, tags, ords)

    def _cloze_cards(
        self, note: Note, notetype: NoteType, fields: list[str], has_tags: bool, ords: list[int]
    ) -> None:
        """A custom cloze note's clozes checked where Anki reads them, as for `cloze` notes: in
        the fields its template clozes, typed clozes that make no card and clozes that break
        the HTML; then every card's front must show its gap (see cardhtml.missing_gaps)."""
        what = f"note `{note.id}`"
        clozed = self._clozed.get(notetype.key)
        if clozed is None:
            _, front, back = notetype.templates[0]
            sites = templates.cloze_sites(templates.parse(front)) + templates.cloze_sites(
                templates.parse(back)
            )
            # (field index, whether its HTML reaches `cloze` with its tags: not after `text`)
            clozed = self._clozed[notetype.key] = [
                (i, any("text" not in s.before for s in sites if s.field == f.name))
                for i, f in enumerate(notetype.fields)
                if any(s.field == f.name for s in sites)
            ]
        for i, with_tags in clozed:
            html = fields[i]
            if "{{" not in html:
                continue
            name = notetype.fields[i].name
            where = note.content_pos.get(name) or (note.sources_pos[:1] or [note.pos])[0]
            read = cloze.card_numbers(html)
            typed = note.content.get(name, "")
            numbers = sorted(cloze.scan(typed)[0]) if typed else []
            if not read.issuperset(numbers):
                self._lost(where, f"field `{name}` of {what}", typed, numbers, read)
            self._broken(where, f"field `{name}` of {what}", html, in_tags=with_tags and bool(read))
        for number, why, holder in cardhtml.missing_gaps(notetype, fields, has_tags, ords):
            self.out.error(
                (note.content_pos.get(holder) if holder else None) or (note.sources_pos[:1] or [note.pos])[0],
                "cloze",
                f"card c{number} of {what} shows no gap on its front ({why}): Anki makes a card for "
                "every cloze number in any field, and this one would ask nothing",
            )

    def _no_cloze(self, note: Note, notetype: NoteType) -> None:
        """A custom cloze note whose final HTML holds no cloze: Anki would make no card. Located
        where a cloze was typed, or at the field the front clozes."""
        what = f"note `{note.id}`"
        typed = [name for name, text in note.content.items() if cloze.scan(text)[0]]
        if typed:
            self.out.error(
                note.content_pos[typed[0]],
                "cloze",
                f"no cloze deletion of {what} survives rendering {_DROPPED}; Anki would make no card",
            )
            return
        clozed = [f.name for f in notetype.fields if f.name in cloze_fields(notetype.fronts[0])]
        where = next((note.content_pos[name] for name in clozed if name in note.content_pos), note.pos)
        self.out.error(
            where,
            "cloze",
            f"{what} has no cloze deletion"
            + (f" in {', '.join(f'`{n}`' for n in clozed)}" if clozed else "")
            + "; mark one like `{{c1::answer}}`",
        )


def custom_card_ords(notetype: NoteType, fields: list[str], has_tags: bool) -> list[int]:
    """The cards Anki makes for these final field values (its `new_cards_required`), by ord.

    Standard: each template whose front shows a non-empty field. Cloze: one per cloze number
    found in any field, as Anki looks in every field, not only the clozed ones.
    """
    if notetype.cloze:
        return cloze.card_ords(fields)
    filled = nonempty_names(notetype.field_names, fields, has_tags)
    return [ord_ for ord_, front in enumerate(notetype.fronts) if renders_with_fields(front, filled)]
