"""Turn a loaded YAML tree into a Deck, reporting every problem with its position.

Validation never stops at the first problem: each check records a diagnostic and moves on,
so one run shows the user everything that is wrong in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import cast

from . import cloze, customtypes, names
from .diagnostics import Collector, did_you_mean
from .model import Deck, Note, Source
from .notetypes import NoteType
from .templates import cloze_fields
from .yamlload import Node, Pos, YList, YMap

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_ID_MATCH = ID_RE.match
SOURCE_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
MAX_ID = 100

TOP_KEYS = ("version", "deck", "include", "notetypes", "tags", "sources", "notes")
DECK_KEYS = ("id", "name", "description", "media", "missing-media")
SOURCE_KEYS = ("title", "url")
NOTE_KEYS = ("id", "type", "front", "back", "text", "extra", "fields", "tags", "sources", "subdeck", "guid")
CUSTOM_NOTE_KEYS = ("id", "type", "fields", "tags", "sources", "subdeck", "guid")
GUID_RE = re.compile(r"[!-~]{1,64}\Z")  # Anki's are base91 (genanki, Anki 2.1) or base62 (Anki 2.0)
_NOTE_KEY_SET = frozenset(NOTE_KEYS)
_HAS_SPACE = re.compile(r"\s").search
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]").search
_PLAIN = re.compile(r"[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+\Z").match  # a word: no space, no control
NOTE_TYPES = ("basic", "basic-reversed", "cloze")
REQUIRED = {"basic": ("front", "back"), "basic-reversed": ("front", "back"), "cloze": ("text",)}
FOREIGN = {"basic": ("text",), "basic-reversed": ("text",), "cloze": ("front", "back")}

_TYPE_NAMES: dict[type, str] = {YMap: "a mapping", YList: "a list", str: "text"}


def _kind(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class _Checker:
    def __init__(self, out: Collector) -> None:
        self.out = out
        self.subdecks: dict[str, Pos] = {}  # each subdeck spelling read, at its first value

    def text(self, value: object, pos: Pos | None, what: str, required: bool = False) -> str | None:
        """A string field; None (after reporting) when it has the wrong type or is empty."""
        if type(value) is not str:
            self.out.error(pos, "type", f"{what} must be text, not {_kind(value)}")
            return None
        if required and not value.strip():
            self.out.error(pos, "empty", f"{what} is empty")
            return None
        bad = _CONTROL(value)
        if bad:
            self.out.error(
                pos,
                "control-character",
                f"{what} contains control character U+{ord(bad.group()):04X}, which Anki cannot store",
            )
            return None
        return value

    def mapping(self, value: object, pos: Pos | None, what: str) -> YMap | None:
        if type(value) is not YMap:
            self.out.error(pos, "type", f"{what} must be a mapping, not {_kind(value)}")
            return None
        return value

    def listing(self, value: object, pos: Pos | None, what: str, hint: str = "") -> YList | None:
        if type(value) is not YList:
            self.out.error(pos, "type", f"{what} must be a list, not {_kind(value)}{hint}")
            return None
        return value

    def keys(self, node: YMap, allowed: Collection[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.out.error(
                    node.key_pos[key],
                    "unknown-key",
                    f"unknown key `{key}` in {what}{did_you_mean(key, allowed)}",
                )

    def required(self, node: YMap, keys: Collection[str], what: str) -> None:
        """Report missing keys, unless a misspelling of the key is already reported as unknown."""
        for key in keys:
            if key not in node and not any(did_you_mean(k, [key]) for k in node if k not in keys):
                self.out.error(node.pos, "missing-key", f"{what} is missing required key `{key}`")

    def ident(self, value: object, pos: Pos | None, what: str) -> str | None:
        value = self.text(value, pos, what, required=True)
        if value is None:
            return None
        if not ID_RE.match(value) or len(value) > MAX_ID:
            self.out.error(
                pos,
                "invalid-id",
                f"{what} `{value}` is invalid: use lowercase letters, digits and '-', "
                f"starting with a letter or digit, at most {MAX_ID} characters",
            )
            return None
        return value

    def tags(self, value: object, pos: Pos | None, what: str) -> list[str]:
        items = self.listing(value, pos, what, hint="; write `tags: [a, b]`")
        if items is None:
            return []
        tags = []
        for item, ipos in zip(items, items.item_pos):
            if type(item) is str and item and not _HAS_SPACE(item) and not _CONTROL(item):
                tags.append(item)  # the common case, checked without building messages
                continue
            tag = self.text(item, ipos, "a tag", required=True)
            if tag is None:
                continue
            if _HAS_SPACE(tag):
                self.out.error(
                    ipos, "invalid-tag", f"tag `{tag}` contains whitespace; Anki tags are single words"
                )
                continue
            tags.append(tag)
        return tags


class NoteReader:
    """Validates notes one by one, as the loader finishes each, so large decks never sit in
    memory as YAML trees. Source keys are checked at the end, when all sources are known.

    Valid notes are kept in ``notes``, or handed to ``emit`` when given (so that a caller that
    already knows the deck's header can turn each into its final form at once).
    """

    def __init__(
        self,
        out: Collector,
        emit: Callable[[Note], None] | None = None,
        deck: Deck | None = None,
        admit: bool = True,
    ) -> None:
        self.check = _Checker(out)
        self.notes: list[Note] = []
        self.emit = emit or self.notes.append
        self.count = 0
        # None: every valid note is emitted, and its id's and guid's positions are kept in
        # ``placed`` for the caller to admit (shards.py admits a file's pieces in file order)
        self.identities: Identities | None = Identities(out) if admit else None
        self.placed: list[tuple[Pos, Pos | None]] = []
        # The deck's own note types; None while the header is not read yet (the one-pass read).
        self.deck = deck
        self.deferred: list[tuple[object, tuple[int, int]]] = []
        self.aliased = 0  # items that were aliases
        self._rejected: set[tuple[int, int]] = set()  # where mappings that are no note start

    def __call__(self, item: object, pos: Pos) -> None:
        self.count += 1
        if self.deck is None and (
            self.deferred
            or (type(item) is YMap and ("fields" in item or item.get("type", "basic") not in NOTE_TYPES))
        ):
            # A note of a custom type needs the header, which the one-pass read has not seen yet;
            # keep it and every later note (so notes stay in file order) until `resume`.
            self.deferred.append((item, pos))
            return
        self._read(item, pos)

    def resume(self, deck: Deck) -> None:
        """The header is known: read the notes kept back for it."""
        self.deck = deck
        deferred, self.deferred = self.deferred, []
        for item, pos in deferred:
            self._read(item, pos)

    def _read(self, item: object, pos: Pos) -> None:
        node = self.check.mapping(item, pos, "a note")
        if node is None:
            return
        # An item that is an alias (`- *n1`) stands at `pos`, away from the mapping it repeats:
        # that is the line to fix. A mapping already rejected is not reported again.
        aliased = pos != node.pos
        if aliased:
            self.aliased += 1
            if node.pos in self._rejected:
                return
        note = _note(self.check, node, self.deck)
        if note is None:
            self._rejected.add(node.pos)
            return
        where = pos if aliased else node.val_pos["id"]
        guid_pos = node.val_pos["guid"] if note.guid is not None else None
        if self.identities is None:
            self.placed.append((where, guid_pos))
        elif not self.identities.admit(note.id, where, aliased, note.guid, guid_pos):
            return
        self.emit(note)


class Identities:
    """The note ids and explicit GUIDs a file has taken so far, in file order: a note that
    repeats an id, or a GUID of another note, is reported and left out (its id stays taken).

    One instance sees every note of a file in file order, in the one-pass read and in the
    two-core read alike (shards.py admits the pieces' notes once all are read), so what is
    left out, and every message about it, does not depend on where a file was cut.
    """

    def __init__(self, out: Collector) -> None:
        self.out = out
        self.id_positions: dict[str, Pos] = {}  # of admitted notes, and of those refused for a guid
        self.guid_notes: dict[str, str] = {}  # explicit guid -> note id

    def admit(self, note_id: str, where: Pos, aliased: bool, guid: str | None, guid_pos: Pos | None) -> bool:
        first = self.id_positions.get(note_id)
        if first is not None:
            how = f" (line {where[0]} repeats it through an alias)" if aliased else ""
            self.out.error(
                where,
                "duplicate-id",
                f"note id `{note_id}` is used twice: lines {first[0]} and {where[0]}{how}",
            )
            return False
        self.id_positions[note_id] = where
        if guid is not None:
            other = self.guid_notes.setdefault(guid, note_id)
            if other != note_id:
                self.out.error(
                    guid_pos,
                    "duplicate-guid",
                    f"guid `{guid}` of note `{note_id}` is also the guid of note `{other}`",
                )
                return False
        return True


def validate(tree: Node | None, path: str, out: Collector, reader: NoteReader | None = None) -> Deck | None:
    """Check a whole file; return the Deck when it is usable, even if some notes had errors.

    ``reader`` holds the notes when the loader streamed them (see ``yamlload.load``).
    """
    header = validate_header(tree, path, out)
    if header is None:
        return None
    deck, notes = header
    count = 0
    if notes is not None:
        if reader is None:
            reader = NoteReader(out, deck=deck)
        else:
            reader.resume(deck)
        for item, pos in zip(notes, notes.item_pos):
            reader(item, pos)
        deck.notes, count = reader.notes, reader.count
        deck.subdeck_pos = reader.check.subdecks
        check_citations(deck.notes, deck.sources, out)
    finish(deck, count, notes, {key for note in deck.notes for key in note.sources}, out)
    return deck


def validate_header(tree: Node | None, path: str, out: Collector) -> tuple[Deck, YList | None] | None:
    """Everything but the notes: the deck, its tags and sources, and that `notes` is a list."""
    check = _Checker(out)
    if tree is None:
        if not out.items:
            out.error(None, "empty-file", "file is empty: a deck file needs `deck` and `notes`")
        return None
    if type(tree) is not YMap:
        out.error(
            tree.pos if hasattr(tree, "pos") else (1, 1),
            "top-level",
            f"the top level must be a mapping with `deck` and `notes`, not {_kind(tree)}",
        )
        return None
    if customtypes.is_notetype_file(tree):
        customtypes.check_notetype_file(check, tree, path)
        return None
    check.keys(tree, TOP_KEYS, "the deck file")
    check.required(tree, ("deck", "notes"), "the deck file")
    if "version" in tree and tree["version"] != "1":
        out.error(
            tree.val_pos["version"],
            "version",
            f"unsupported format version `{tree['version']}`: this factdeck reads version 1",
        )

    deck = Deck(path=path, id="", name="", description="", tags=[], sources={}, notes=[])
    if "deck" in tree:
        _deck_header(check, tree["deck"], tree.val_pos["deck"], deck)
    if "notetypes" in tree or "include" in tree:
        own = customtypes.Declared()
        if "notetypes" in tree:
            own = customtypes.declare(
                check,
                tree["notetypes"],
                tree.val_pos["notetypes"],
                deck.id or None,
                path,
                deck.media,
                deck.missing_media,
            )
        included = (
            customtypes.include(check, tree["include"], tree.val_pos["include"], path)
            if "include" in tree
            else []
        )
        usable = customtypes.merge(own, included, check)
        deck.notetypes, deck.unusable_types = usable.types, usable.unusable
    if "tags" in tree:
        deck.tags = check.tags(tree["tags"], tree.val_pos["tags"], "`tags`")
    if "sources" in tree:
        deck.sources = _sources(check, tree["sources"], tree.val_pos["sources"])
    notes = check.listing(tree["notes"], tree.val_pos["notes"], "`notes`") if "notes" in tree else None
    return deck, notes


def finish(deck: Deck, count: int, notes: YList | None, cited: set[str], out: Collector) -> None:
    """What needs every note: deck and subdeck names Anki would not keep (once per name), an
    empty deck, sources nobody cites."""
    names.check_deck(deck, out)
    if notes is not None and not count:
        out.warning(notes.pos, "no-notes", "`notes` is empty: the deck has no cards")
    for key, source in deck.sources.items():
        if key not in cited:
            out.warning(source.pos, "unused-source", f"source `{key}` is defined but no note cites it")


def _deck_header(check: _Checker, value: object, pos: Pos, deck: Deck) -> None:
    node = check.mapping(value, pos, "`deck`")
    if node is None:
        return
    check.keys(node, DECK_KEYS, "`deck`")
    check.required(node, ("id", "name"), "`deck`")
    if "id" in node:
        deck.id = check.ident(node["id"], node.val_pos["id"], "deck id") or ""
        deck.id_pos = node.val_pos["id"]
    if "name" in node:
        name = check.text(node["name"], node.val_pos["name"], "deck name", required=True)
        deck.name_pos = node.val_pos["name"]
        if name is not None:
            if any(not part.strip() for part in name.split("::")):
                check.out.error(
                    node.val_pos["name"],
                    "deck-name",
                    f"deck name `{name}` has an empty part between `::` "
                    f"(Anki would name the deck `{names.anki_name(name)}`)",
                )
            else:
                deck.name = "::".join(part.strip() for part in name.split("::"))
    if "description" in node:
        deck.description = (
            check.text(node["description"], node.val_pos["description"], "deck description") or ""
        )
        deck.description_pos = node.val_pos["description"]
    if "media" in node:
        folder = check.text(node["media"], node.val_pos["media"], "deck media folder", required=True)
        parts = folder.replace("\\", "/").split("/") if folder else []
        if folder and (folder.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]):
            check.out.error(
                node.val_pos["media"],
                "media-folder",
                f"media folder `{folder}` must be a folder inside the deck file's folder, "
                "given relative to it",
            )
        elif folder:
            deck.media, deck.media_pos = folder, node.val_pos["media"]
    if "missing-media" in node:
        pos = node.val_pos["missing-media"]
        items = check.listing(
            node["missing-media"], pos, "`missing-media`", hint="; write `missing-media: [a.png]`"
        )
        deck.missing_media_pos = pos
        for item, ipos in zip(items or [], items.item_pos if items else []):
            name = check.text(item, ipos, "a missing media file's name", required=True)
            if name is not None and name in deck.missing_media:
                check.out.warning(ipos, "duplicate-media", f"`{name}` is listed twice in `missing-media`")
            elif name is not None:
                deck.missing_media[name] = ipos


def _sources(check: _Checker, value: object, pos: Pos) -> dict[str, Source]:
    node = check.mapping(value, pos, "`sources`")
    if node is None:
        return {}
    sources = {}
    for key, body in node.items():
        kpos = node.key_pos[key]
        if not SOURCE_KEY_RE.match(key):
            check.out.error(
                kpos, "invalid-id", f"source key `{key}` is invalid: use letters, digits, '.', '_' and '-'"
            )
            continue
        entry = check.mapping(body, node.val_pos[key], f"source `{key}`")
        if entry is None:
            continue
        check.keys(entry, SOURCE_KEYS, f"source `{key}`")
        check.required(entry, ("title",), f"source `{key}`")
        title = check.text(
            entry.get("title", ""),
            entry.val_pos.get("title"),
            f"title of source `{key}`",
            required="title" in entry,
        )
        url = None
        if "url" in entry:
            url = check.text(entry["url"], entry.val_pos["url"], f"url of source `{key}`", required=True)
            if url is not None and not re.match(r"https?://[^\s<>\"]+\Z", url):
                check.out.error(
                    entry.val_pos["url"],
                    "invalid-url",
                    f"url of source `{key}` must be an http:// or https:// address without spaces",
                )
                url = None
        if title:
            sources[key] = Source(key, title, url, kpos)
    return sources


def split_citation(citation: str) -> tuple[str, str]:
    """`fda-baclofen §5.1` -> (`fda-baclofen`, `§5.1`): keys hold no spaces, so the first one ends the key."""
    parts = citation.strip().split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (parts[0] if parts else "", "")


def check_citations(notes: list[Note], sources: dict[str, Source], out: Collector) -> None:
    """Cited source keys must be defined; run once all sources are known."""
    for note in notes:
        if all(key in sources for key in note.sources):
            continue
        kept, kept_locators = [], []
        for key, kpos, locator in zip(note.sources, note.sources_pos, note.locators):
            if key in sources:
                kept.append(key)
                kept_locators.append(locator)
            else:
                out.error(
                    kpos,
                    "unknown-source",
                    f"source `{key}` is not defined under `sources`{did_you_mean(key, sources, out)}",
                )
        note.sources, note.locators = kept, kept_locators


def _note(check: _Checker, node: YMap, deck: Deck | None = None) -> Note | None:
    out = check.out
    ok = True
    custom = None
    if (
        deck is not None
        and deck.notetypes
        and type(node.get("type")) is str
        and node["type"] in deck.notetypes
    ):
        custom = deck.notetypes[node["type"]]
        check.keys(node, CUSTOM_NOTE_KEYS, f"a `{custom.key}` note{_custom_hint(node)}")
    elif not node.keys() <= _NOTE_KEY_SET:
        check.keys(node, NOTE_KEYS, "a note")
    raw_id, note_id = node.get("id"), None
    if raw_id is None:
        check.required(node, ("id",), "note")
    elif type(raw_id) is str and len(raw_id) <= MAX_ID and _ID_MATCH(raw_id):
        note_id = raw_id  # the common case, checked without building messages
    else:
        note_id = check.ident(raw_id, node.val_pos["id"], "note id")
    what = f"note `{note_id}`" if note_id else "note"
    if custom is not None:
        return _custom_note(check, node, note_id, what, custom)

    if "type" in node:
        kind = check.text(node["type"], node.val_pos["type"], f"`type` of {what}", required=True)
        if kind is not None and kind not in NOTE_TYPES:
            if deck is not None and kind in deck.unusable_types:
                return None  # its declaration's errors are reported
            known = (*NOTE_TYPES, *(deck.notetypes if deck is not None else ()))
            out.error(
                node.val_pos["type"],
                "unknown-type",
                f"unknown note type `{kind}`; use one of: {', '.join(known)}{did_you_mean(kind, known)}",
            )
            kind = None
        if kind is None:
            return None
    else:
        kind = "cloze" if "text" in node else "basic"
    if "fields" in node:
        out.error(
            node.key_pos["fields"],
            "wrong-field",
            f"`fields` is for notes of note types declared under `notetypes`; a {kind} note uses "
            + ("`text`" if kind == "cloze" else "`front` and `back`"),
        )
        ok = False

    for key in FOREIGN[kind]:
        if key in node:
            ok = False
            if kind == "cloze":
                out.error(
                    node.key_pos[key],
                    "wrong-field",
                    f"`{key}` is for basic notes; a cloze note puts everything in `text`",
                )
            else:
                out.error(
                    node.key_pos[key],
                    "wrong-field",
                    f"`{key}` is for cloze notes; a {kind} note uses `front` and `back`"
                    f" (or set `type: cloze` and drop them)",
                )
    content, content_pos = {}, {}
    if not all(key in node for key in REQUIRED[kind]):
        check.required(node, REQUIRED[kind], f"{what} ({kind})")
    for key in REQUIRED[kind]:
        if key not in node:
            ok = False
            continue
        value: Node | None = node[key]
        if type(value) is not str or not value.strip() or _CONTROL(value):
            value = check.text(value, node.val_pos[key], f"`{key}` of {what}", required=True)
        if value is None:
            ok = False
            continue
        content[key], content_pos[key] = value, node.val_pos[key]
    if "extra" in node:
        value = check.text(node["extra"], node.val_pos["extra"], f"`extra` of {what}")
        if value is None:
            ok = False
        elif value.strip():
            content["extra"], content_pos["extra"] = value, node.val_pos["extra"]

    numbers: tuple[int, ...] = ()
    if kind == "cloze" and "text" in content:
        found, problems = cloze.scan(content["text"])
        for problem in problems:
            out.error(content_pos["text"], "cloze", f"{problem} in `text` of {what}")
        if problems:
            ok = False  # whether any cloze makes a card is decided on the final HTML (assemble)
        numbers = tuple(sorted(found))

    tags, (cited, cited_pos, locators), subdeck = _placement(check, node, what)
    ok = ok and subdeck is not None

    guid = _guid(check, node, what) if "guid" in node else None
    if note_id is None or not ok or guid == "":
        return None
    return Note(
        note_id,
        kind,
        content,
        content_pos,
        tags,
        cited,
        node.pos,
        numbers,
        cited_pos,
        locators,
        subdeck or "",
        guid,
    )


def _placement(
    check: _Checker, node: YMap, what: str
) -> tuple[list[str], tuple[list[str], list[tuple[int, int]], list[str]], str | None]:
    """What every note type shares: its tags, its citations, its subdeck (None when invalid)."""
    tags: list[str] = []
    raw = node.get("tags")
    if type(raw) is YList and all(type(t) is str and _PLAIN(t) for t in raw):
        tags = cast("list[str]", list(raw))  # the common case, checked without building messages
    elif raw is not None:
        tags = check.tags(raw, node.val_pos["tags"], f"`tags` of {what}")
    raw = node.get("sources")
    if type(raw) is YList and all(type(k) is str and _PLAIN(k) for k in raw) and len(set(raw)) == len(raw):
        citations = (cast("list[str]", list(raw)), list(raw.item_pos), [""] * len(raw))  # bare keys
    else:
        citations = _citations(check, node, what) if raw is not None else ([], [], [])
    subdeck = _subdeck(check, node, what) if "subdeck" in node else ""
    return tags, citations, subdeck


def _citations(check: _Checker, node: YMap, what: str) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """The note's `sources`: (keys, their positions, locators), each (key, locator) once."""
    out = check.out
    cited: list[str] = []
    cited_pos: list[tuple[int, int]] = []
    locators: list[str] = []
    keys = check.listing(
        node["sources"], node.val_pos["sources"], f"`sources` of {what}", hint="; write `sources: [key]`"
    )
    seen: set[tuple[str, str]] = set()
    for item, kpos in zip(keys or [], keys.item_pos if keys else []):
        key = item if type(item) is str and item and not _CONTROL(item) else None
        if key is None:
            key = check.text(item, kpos, "a source key", required=True)
            if key is None:
                continue
        key, locator = split_citation(key)
        if "\n" in locator or "\r" in locator:
            out.error(kpos, "locator", f"the locator after source `{key}` must be on one line")
            continue
        if (key, locator) not in seen:
            seen.add((key, locator))
            cited.append(key)
            cited_pos.append(kpos)
            locators.append(locator)
    return cited, cited_pos, locators


def _subdeck(check: _Checker, node: YMap, what: str) -> str | None:
    """`subdeck: A::B`, parts trimmed as deck names are; None (after reporting) when invalid."""
    pos = node.val_pos["subdeck"]
    value = check.text(node["subdeck"], pos, f"`subdeck` of {what}", required=True)
    if value is None:
        return None
    if any(not part.strip() for part in value.split("::")):
        check.out.error(
            pos,
            "deck-name",
            f"`subdeck` `{value}` of {what} has an empty part between `::` "
            f"(Anki would name the subdeck `{names.anki_name(value)}`)",
        )
        return None
    value = "::".join(part.strip() for part in value.split("::"))
    check.subdecks.setdefault(value, pos)
    return value


def _custom_hint(node: YMap) -> str:
    if any(key in node for key in ("front", "back", "text", "extra")):
        return "; its content goes under `fields`, by field name"
    return ""


def _custom_note(check: _Checker, node: YMap, note_id: str | None, what: str, nt: NoteType) -> Note | None:
    """A note of a custom type: `fields` maps the type's field names to their text."""
    out = check.out
    ok = not any(key not in CUSTOM_NOTE_KEYS for key in node)
    content: dict[str, str] = {}
    content_pos: dict[str, tuple[int, int]] = {}
    filled_by_factdeck = {f.name: f.key for f in nt.fields if f.key != f.name}
    names = [f.name for f in nt.fields if f.key == f.name]
    if "fields" in node:
        given = check.mapping(node["fields"], node.val_pos["fields"], f"`fields` of {what}")
        ok = ok and given is not None
        given = given if given is not None else YMap()  # nothing to read; the error is reported
        for name, value in given.items():
            kpos = given.key_pos[name]
            if name in filled_by_factdeck:
                out.error(
                    kpos,
                    "wrong-field",
                    f"field `{name}` of {what} is filled by factdeck "
                    + ("from `sources`" if filled_by_factdeck[name] == ":sources" else "with the note id"),
                )
                ok = False
                continue
            if name not in names:
                out.error(
                    kpos,
                    "unknown-field",
                    f"note type `{nt.key}` has no field `{name}`{did_you_mean(name, names)}"
                    f" (its fields: {', '.join(names)})",
                )
                ok = False
                continue
            text = check.text(value, given.val_pos[name], f"field `{name}` of {what}")
            if text is None:
                ok = False
                continue
            content[name], content_pos[name] = text, given.val_pos[name]
    if nt.cloze:
        clozed = [name for name in names if name in cloze_fields(nt.fronts[0])]
        for name in clozed:
            if name not in content:
                continue
            problems = cloze.scan(content[name])[1]
            for problem in problems:
                out.error(content_pos[name], "cloze", f"{problem} in field `{name}` of {what}")
            ok = ok and not problems
        # whether a cloze makes a card is decided on the final HTML (assemble), as for `cloze`
        # notes: Markdown can make one (`{\\{c1::x\\}\\}`) and the sanitiser can remove one
    tags, (cited, cited_pos, locators), subdeck = _placement(check, node, what)
    ok = ok and subdeck is not None
    guid = _guid(check, node, what) if "guid" in node else None
    if note_id is None or not ok or guid == "":
        return None
    return Note(
        note_id,
        nt.key,
        content,
        content_pos,
        tags,
        cited,
        node.pos,
        (),
        cited_pos,
        locators,
        subdeck or "",
        guid,
    )


def _guid(check: _Checker, node: YMap, what: str) -> str:
    """An explicit Anki GUID (kept by `factdeck import`); "" after reporting a bad one."""
    value = check.text(node["guid"], node.val_pos["guid"], f"`guid` of {what}", required=True)
    if value is None:
        return ""
    if not GUID_RE.match(value):
        check.out.error(
            node.val_pos["guid"],
            "invalid-guid",
            f"`guid` of {what} is invalid: Anki GUIDs are 1 to 64 printable ASCII characters without spaces",
        )
        return ""
    return value
