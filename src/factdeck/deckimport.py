"""`factdeck import`: an Anki package turned into deck files that rebuild it exactly.

Anki reads the package (``ankifiles.collection``); this module decides what the deck files
say: one file per top-level deck (its subdecks as ``subdeck:``), the note types with their
Anki IDs, each note with its GUID, its fields (HTML kept byte for byte; Markdown only where
rendering the Markdown gives the same HTML back) and its tags, the media the notes use in a
folder beside the deck file, and a lock holding each note's time from the package.

The proof is a build: before anything is written, the files are compiled by factdeck itself
in a staging folder and every note is compared with the package (fields, tags, GUID, cards).
Only then are the files moved into place, none over an existing file.
"""

from __future__ import annotations

import errno
import html
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import css as stylesheet
from . import lock as lockfile
from . import templatemedia
from .ankifiles.collection import IMAGE_OCCLUSION, Contents, Notetype, read_package
from .ankifiles.collection import Note as PackageNote
from .ankifiles.read import PackageError
from .diagnostics import Diagnostic
from .names import DEFAULT_DECK, anki_name, same_deck_key
from .notetypes import BUILT_IN_IDS
from .output import moves_begin, moves_done, private_workdir, recover
from .render import Missing, Renderer, html_field, sounds, text_field
from .terminal import printable
from .validate import GUID_RE, MAX_ID, NOTE_TYPES
from .yamlwrite import Flow, dump

MAX_SLUG = 60
HEADER = (
    "# Imported from {source} by `factdeck import`. Notes keep their Anki GUIDs (`guid:`) and\n"
    "# note types their Anki IDs, so users' copies update in place: keep both as they are.\n"
)
_TAG = re.compile(r"<[^>]*>")
_CLOZE = re.compile(r"\{\{c\d+::(.*?)(?:::[^}]*)?\}\}", re.S)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_UNSAFE_MEDIA = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass
class ImportedNotetype:
    key: str  # what notes name in `type:`
    source: Notetype
    formats: list[str]  # per field: markdown | html
    notes: int = 0


@dataclass
class ImportedNote:
    id: str
    guid: str
    type: str  # the note type's key
    subdeck: str  # "" for the deck itself
    fields: dict[str, str]  # field name -> text as written in YAML (empty fields left out)
    tags: list[str]
    mod: int
    added: int  # seconds
    original: tuple[str, ...]  # the fields as the package has them
    ords: tuple[int, ...]  # the cards the package has


@dataclass
class ImportedDeck:
    id: str
    name: str
    path: Path  # the deck file, where it will be written
    description: str = ""
    notetypes: dict[str, ImportedNotetype] = field(default_factory=dict)  # key -> type
    notes: list[ImportedNote] = field(default_factory=list)
    media: dict[str, Path] = field(default_factory=dict)  # name -> unpacked file
    subdecks: set[str] = field(default_factory=set)
    missing: dict[str, list[str]] = field(default_factory=dict)  # file not in the package -> note ids

    @property
    def media_folder(self) -> str:
        return f"{self.id}-media"


@dataclass
class SharedTypes:
    """Note types used by several decks: declared once, in a note-type file the decks include."""

    id: str
    path: Path
    notetypes: dict[str, ImportedNotetype]


@dataclass
class ImportResult:
    source: Path
    decks: list[ImportedDeck] = field(default_factory=list)
    shared: SharedTypes | None = None
    notetypes: dict[str, int] = field(default_factory=dict)  # note type name -> notes
    left_out: list[str] = field(default_factory=list)  # sentences
    warnings: list[str] = field(default_factory=list)  # sentences
    diagnostics: list[Diagnostic] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


# --- ids -----------------------------------------------------------------------------------------


def slug(text: str, limit: int = MAX_SLUG) -> str:
    """`<b>Baclofen</b>: mechanism?` -> `baclofen-mechanism`: lowercase ASCII words joined by '-'."""
    text = html.unescape(_TAG.sub(" ", _CLOZE.sub(r"\1", text)))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = _NOT_SLUG.sub("-", text).strip("-")
    if len(words) > limit:
        cut = words[:limit]
        words = cut.rsplit("-", 1)[0] if "-" in cut[limit // 2 :] else cut
    return words.strip("-")


def unique(base: str, taken: set[str], fallback: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first not in ``taken`` (which it joins)."""
    base = base or fallback
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[: MAX_ID - len(str(n)) - 1]}-{n}"
    taken.add(name)
    return name


# --- fields --------------------------------------------------------------------------------------


class FieldText:
    """How a field's HTML is written in YAML so that the build gives the very same bytes back.

    ``markdown`` is tried first (it reads best), then ``html`` (kept as written after the
    safety sanitising, which re-serialises HTML), then ``text`` (escaped): a value Anki stores
    as a raw U+00A0 survives only as text, since sanitised HTML spells it `&nbsp;`.

    The package's media keep their names, as the build keeps a media folder's; any other local
    file a field names is missing from the package: it is kept as written too (the deck lists
    it under `missing-media`, where the build does the same), and ``missing`` names it.
    """

    FORMATS = ("markdown", "html", "text")

    def __init__(self, media: set[str]) -> None:
        self.renderer = Renderer(tempfile.gettempdir())
        self.renderer.folder_media = set(media)
        self.renderer.probe = True
        self._html: dict[str, tuple[bool, tuple[str, ...]]] = {}

    def written(self, value: str, fmt: str) -> str | None:
        """The YAML text that renders to exactly ``value`` in format ``fmt``, or None."""
        return self.written_and_missing(value, fmt)[0]

    def written_and_missing(self, value: str, fmt: str) -> tuple[str | None, tuple[str, ...]]:
        """``written``, and the files missing from the package that the field then names."""
        if fmt == "markdown":
            candidates = [value]
            if "<" not in value and "&" in value:
                candidates.append(html.unescape(value))  # `a &amp; b` is written `a & b`
            for text in candidates:
                rendered, problems = self.renderer.field(text)
                missing = _missing(problems)
                if rendered == value and len(missing) == len(problems):
                    return text, missing
            return None, ()
        if fmt == "html":
            cached = self._html.get(value)
            if cached is None:
                rendered, problems = html_field(self.renderer, value)
                missing = _missing(problems)
                cached = self._html[value] = (rendered == value and len(missing) == len(problems), missing)
            return (value, cached[1]) if cached[0] else (None, ())
        text = html.unescape(value.replace("<br>", "\n")) if "&" in value or "<br>" in value else value
        if text_field(text) != value:
            return None, ()
        if "[sound:" not in value:
            return text, ()
        _, problems = sounds(self.renderer, value)
        missing = _missing(problems)
        return (text, missing) if len(missing) == len(problems) else (None, ())


def _missing(problems: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(p) for p in problems if isinstance(p, Missing))


# --- planning ------------------------------------------------------------------------------------


def plan(contents: Contents, out_dir: Path, source: Path) -> ImportResult:
    """What the import writes, decided from the package alone (nothing is written here)."""
    result = ImportResult(source)
    top_of: dict[str, str] = {}
    decks: dict[str, ImportedDeck] = {}
    deck_ids: set[str] = set()
    for note in contents.notes:
        home = note.cards[0].deck if note.cards else "Default"
        top = home.split("::")[0]
        if top not in decks:
            name = top
            if same_deck_key(top) == same_deck_key(DEFAULT_DECK):
                name = _instead_of_default(source, contents.notes)
            deck_id = unique(slug(name), deck_ids, "deck")
            decks[top] = ImportedDeck(deck_id, name, out_dir / f"{deck_id}.yaml")
            if name != top:
                result.warnings.append(
                    f"the package's cards in Anki's own deck '{printable(top)}' (deck 1, which every "
                    f"collection has) go to a deck named '{printable(name)}' ({deck_id}.yaml): a deck "
                    "file named Default would merge into each user's own Default deck"
                )
        top_of[home] = top
    fields = FieldText(set(contents.media))
    for top, deck in decks.items():
        description = contents.deck_descriptions.get(top, "")
        written, in_description = (
            fields.written_and_missing(description, "markdown") if description else (None, ())
        )
        if written is not None:
            deck.description = written
            for name in in_description:
                deck.missing.setdefault(name, []).append("the deck description")
        elif description:
            result.left_out.append(
                f"the description of deck '{deck.name}', which has no exact Markdown form "
                "(users who have the deck keep theirs)"
            )
    keys: set[str] = set()
    imported = {
        nt_id: ImportedNotetype(_new_key(nt, keys), nt, _formats(nt, contents, fields))
        for nt_id, nt in sorted(contents.notetypes.items(), key=lambda item: item[1].name)
    }
    for nt in imported.values():
        slips = stylesheet.problems(nt.source.css)
        if slips:
            line = stylesheet.position(nt.source.css, slips[0].offset)[0]
            result.warnings.append(
                f"the CSS of note type '{printable(nt.source.name)}' has {len(slips)} slip"
                f"{'s' if len(slips) > 1 else ''} a browser reads otherwise than it looks (line {line}: "
                f"{slips[0].message}); it is kept as it is, its cards looking as they do in Anki, and "
                f"marked `{stylesheet.UNCHECKED}` so that the build accepts it with a warning: fix it, "
                "then remove the mark"
            )
    ids_per_deck: dict[str, set[str]] = {name: set() for name in decks}
    spread = 0
    bad_guids = []
    for note in contents.notes:
        home = note.cards[0].deck if note.cards else "Default"
        deck = decks[top_of[home]]
        if len({card.deck for card in note.cards}) > 1:
            spread += 1
        source_type = contents.notetypes[note.notetype]
        notetype = imported[note.notetype]
        deck.notetypes[notetype.key] = notetype
        notetype.notes += 1
        if not GUID_RE.match(note.guid):
            bad_guids.append(note.guid)
        values: dict[str, str] = {}
        absent: list[str] = []
        for name, value, fmt in zip(source_type.fields, note.fields, notetype.formats):
            if value:
                written, names = fields.written_and_missing(value, fmt)
                values[name] = written or value  # if None: named by the check
                absent += [n for n in names if n not in absent]
        note_id = unique(_id_base(note.fields, source_type.sort_field), ids_per_deck[top_of[home]], "note")
        for name in absent:
            deck.missing.setdefault(name, []).append(f"note {note_id}")
        subdeck = home[len(top_of[home]) + 2 :] if home != top_of[home] else ""
        if subdeck:
            deck.subdecks.add(subdeck)
        deck.notes.append(
            ImportedNote(
                note_id,
                note.guid,
                notetype.key,
                subdeck,
                values,
                list(note.tags),
                note.mod,
                note.id // 1000,
                note.fields,
                tuple(card.ord for card in note.cards),
            )
        )
        for name in note.media:
            deck.media[name] = contents.media[name]
    for deck in decks.values():
        for notetype in deck.notetypes.values():
            for name in notetype.source.static_media:
                if name in contents.media:
                    deck.media[name] = contents.media[name]
            # the build bundles what templates and CSS name, or refuses it: each file they name
            # goes to the media folder, or under `missing-media` when the package lacks it
            files, remote = _template_media(notetype.source)
            for name in files:
                if name in contents.media:
                    deck.media[name] = contents.media[name]
                elif name not in deck.media:
                    deck.missing.setdefault(name, []).append(f"note type {notetype.key}")
            for url in remote:
                deck.missing.setdefault(url, []).append(f"note type {notetype.key}")
        for name in [n for n in deck.media if n.startswith(".") or _UNSAFE_MEDIA.search(n)]:
            del deck.media[name]
            result.warnings.append(f"media file {name!r} has a name factdeck cannot bundle; it is left out")
    result.decks = list(decks.values())
    users = Counter(key for deck in result.decks for key in deck.notetypes)
    shared = {key: nt for nt in imported.values() if users[(key := nt.key)] > 1 and _shareable(nt.source)}
    if shared:
        file_id = unique("anki-notetypes", deck_ids, "notetypes")
        result.shared = SharedTypes(file_id, out_dir / f"{file_id}.yaml", shared)
    used_types = Counter(contents.notetypes[n.notetype].name for n in contents.notes)
    result.notetypes = dict(sorted(used_types.items()))
    if bad_guids:
        result.diagnostics.append(
            Diagnostic(
                str(source),
                0,
                0,
                "import",
                f"{len(bad_guids)} notes have GUIDs factdeck cannot keep (1 to 64 printable ASCII "
                f"characters without spaces), for example {bad_guids[0]!r}",
            )
        )
    _notes_on_the_package(contents, result, spread)
    return result


def _instead_of_default(source: Path, notes: list[PackageNote]) -> str:
    """A name for the deck file of the package's cards in Anki's Default deck: the package's
    own name (a deck called Default would be every user's Default deck), unless Anki would take
    it for Default or for another deck of the package."""
    taken = {same_deck_key(card.deck.split("::")[0]) for note in notes for card in note.cards}
    taken.add(same_deck_key(DEFAULT_DECK))
    base = anki_name(source.stem.replace("::", " "))
    for name in (base, f"{base} (imported)", "Imported deck"):
        if same_deck_key(name) not in taken:
            return name
    return f"Imported deck {len(taken)}"


def _template_media(notetype: Notetype) -> tuple[list[str], list[str]]:
    return templatemedia.local_names(
        [t for tmpl in notetype.templates for t in (tmpl.front, tmpl.back)], notetype.css
    )


def _shareable(notetype: Notetype) -> bool:
    """Whether a note type can go into the note-type file several decks include: there, only
    bare `_` names are found by name (in the decks' media folders); any other file or web
    address its templates name is found, or kept as written, through each deck's own header."""
    files, remote = _template_media(notetype)
    return not remote and all(name.startswith("_") and "/" not in name for name in files)


def _id_base(fields: tuple[str, ...], sort_field: int) -> str:
    """A readable id from the sort field, or from the first field with words when that is empty.

    The id is written into the deck file, so it never changes when the field later does.
    """
    order = [sort_field] + [i for i in range(len(fields)) if i != sort_field]
    return next((s for s in (slug(fields[i]) for i in order if i < len(fields)) if s), "")


def _formats(notetype: Notetype, contents: Contents, fields: FieldText) -> list[str]:
    """Per field of a note type: the first format that gives every note's value back exactly,
    or, when none does, the one that gives most back (the import names the rest)."""
    if notetype.stock_kind == IMAGE_OCCLUSION:
        return ["html"] * len(notetype.fields)
    values: list[list[str]] = [[] for _ in notetype.fields]
    for note in contents.notes:
        if note.notetype == notetype.id:
            for i, value in enumerate(note.fields[: len(values)]):
                if value:
                    values[i].append(value)
    chosen = []
    for column in values:
        exact: dict[str, int] = {}
        for fmt in FieldText.FORMATS:
            exact[fmt] = sum(fields.written(v, fmt) is not None for v in column)
            if exact[fmt] == len(column):
                chosen.append(fmt)
                break
        else:
            chosen.append(max(FieldText.FORMATS, key=lambda f: (exact[f], f == "html")))
    return chosen


def _new_key(notetype: Notetype, taken: set[str]) -> str:
    base = slug(notetype.name, 40) or "notetype"
    if base in NOTE_TYPES:  # factdeck's own `basic`, `cloze`: keep those names for them
        base = f"anki-{base}"
    return unique(base, taken, "notetype")


def _notes_on_the_package(contents: Contents, result: ImportResult, spread: int) -> None:
    studied = (
        f"{_count(contents.reviewed_cards, 'studied card')}, {_count(contents.reviews, 'review')}, "
        f"{_count(contents.deck_options, 'option preset')} of its own"
    )
    result.left_out.append(
        "scheduling, review history and deck options: each user's own, not part of a shared deck "
        f"(this package has {studied})"
    )
    unused = contents.media_total - len(contents.media)
    if unused > 0:
        result.left_out.append(f"{unused} media files no note or note type uses")
    for deck in result.decks:
        for name, users in sorted(deck.missing.items()):
            if templatemedia.is_web_address(name):
                result.warnings.append(
                    f"{lockfile.shorten(users, 5)} load {name!r} from the web; {deck.path.name} keeps it "
                    "as written (under `deck: missing-media:`, which the build otherwise refuses in templates)"
                )
                continue
            result.warnings.append(
                f"media file {name!r} is not in the package; {deck.path.name} keeps the references as "
                "written (under `deck: missing-media:`), so their cards show it only in collections that "
                f"have it: {lockfile.shorten(users, 5)}"
            )
    if spread:
        result.warnings.append(
            f"{spread} notes have cards in more than one deck; each note's cards go to the deck of its "
            "first card in a new collection (cards already in users' collections stay where they are)"
        )
    for notetype in contents.notetypes.values():
        if notetype.stock_kind == IMAGE_OCCLUSION:
            result.warnings.append(
                f"note type '{notetype.name}' is Anki's Image Occlusion, which factdeck cannot express: "
                "it is imported as a cloze type with every field kept as html; its cards show as "
                "before, but Anki's occlusion editor will not offer to edit notes of the rebuilt type"
            )


# --- writing -------------------------------------------------------------------------------------


def deck_text(deck: ImportedDeck, source: str, shared: SharedTypes | None = None) -> str:
    """The deck file of one imported deck; it includes the shared note-type file if it uses one."""
    head: dict[str, Any] = {"id": deck.id, "name": deck.name}
    if deck.description:
        head["description"] = deck.description
    if deck.media:
        head["media"] = deck.media_folder
    if deck.missing:
        head["missing-media"] = sorted(deck.missing)
    data: dict[str, Any] = {"deck": head}
    shared_keys = set(shared.notetypes) if shared else set()
    if shared and shared_keys & set(deck.notetypes):
        data["include"] = [shared.path.name]
    own = {key: _notetype_yaml(nt) for key, nt in deck.notetypes.items() if key not in shared_keys}
    if own:
        data["notetypes"] = own
    # The notes go out a thousand at a time: PyYAML builds a node for every value it writes,
    # and a whole 100,000-note deck at once would hold half a gigabyte of them. A top-level
    # list dumps exactly as `notes:`'s items do (block sequences are not indented).
    parts = [HEADER.format(source=_comment_safe(source)), dump(data)]
    if not deck.notes:
        parts.append("notes: []\n")
    else:
        parts.append("notes:\n")
        for start in range(0, len(deck.notes), 1000):
            parts.append(dump([_note_yaml(note) for note in deck.notes[start : start + 1000]]))
    return "".join(parts)


def notetype_file_text(shared: SharedTypes, source: str) -> str:
    """The note-type file holding the note types several imported decks use."""
    data = {"id": shared.id, "notetypes": {key: _notetype_yaml(nt) for key, nt in shared.notetypes.items()}}
    return HEADER.format(source=_comment_safe(source)) + dump(data)


def _comment_safe(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u0085\u2028\u2029]", "?", text)


def _notetype_yaml(nt: ImportedNotetype) -> dict[str, Any]:
    src = nt.source
    out: dict[str, Any] = {"name": src.name, "id": src.id}
    if src.cloze:
        out["kind"] = "cloze"
    out["fields"] = [
        name if fmt == "markdown" else {"name": name, "format": fmt}
        for name, fmt in zip(src.fields, nt.formats)
    ]
    if src.sort_field:
        out["sort-field"] = src.fields[src.sort_field]
    out["templates"] = [{"name": t.name, "front": t.front, "back": t.back} for t in src.templates]
    out["css"] = kept_css(src.css)
    return out


def kept_css(css: str) -> str:
    """A package's note-type CSS as the deck file holds it: as it is, marked unchecked when a
    browser reads it otherwise than it looks (so the build warns instead of refusing it; the
    mark is a comment, so the cards look as they did)."""
    return f"{stylesheet.UNCHECKED}\n{css}" if stylesheet.problems(css) else css


def _note_yaml(note: ImportedNote) -> dict[str, Any]:
    out: dict[str, Any] = {"id": note.id, "guid": note.guid, "type": note.type}
    if note.subdeck:
        out["subdeck"] = note.subdeck
    out["fields"] = note.fields
    if note.tags:
        out["tags"] = Flow(note.tags)
    return out


# --- the import ----------------------------------------------------------------------------------


def import_package(path: Path, out_dir: Path, dry_run: bool = False) -> ImportResult:
    """Read ``path``, write its decks into ``out_dir`` (unless ``dry_run``), proven by a build.

    Nothing is written when anything fails, and nothing that exists is overwritten.
    """
    result = ImportResult(path)
    try:
        recover([out_dir])  # what killed imports left there and in TMPDIR
        with read_package(path) as contents:
            if not contents.notes:
                result.diagnostics.append(
                    Diagnostic(str(path), 0, 0, "import", "the package holds no notes: nothing to import")
                )
                return result
            own = sorted({nt.name for nt in contents.notetypes.values() if nt.id in BUILT_IN_IDS})
            if own:
                result.diagnostics.append(
                    Diagnostic(
                        str(path),
                        0,
                        0,
                        "import",
                        f"this package was built by factdeck (note types {', '.join(map(repr, own))}): "
                        "its deck files are the source to keep; compare them with it using `factdeck diff`",
                    )
                )
                return result
            result = plan(contents, out_dir, path)
            if not result.errors:
                _refuse_existing(result)
            if result.errors:
                return result
            if dry_run:
                with private_workdir(purpose="import") as stage:
                    _stage_and_prove(result, Path(stage))
                return result
            created = _make_folder(out_dir)
            try:
                # in the output folder, to rename from; a killed import's is removed by the next
                with private_workdir(out_dir, "import") as stage:
                    if _stage_and_prove(result, Path(stage)):
                        _move_into_place(result, Path(stage))
            finally:
                for folder in created if not result.written else []:
                    try:
                        folder.rmdir()  # only if still empty: the import wrote nothing there
                    except OSError:
                        break
    except PackageError as e:
        result.diagnostics.append(Diagnostic(str(path), 0, 0, "package", printable(str(e))))
    except OSError as e:
        result.diagnostics.append(
            Diagnostic(
                str(e.filename or out_dir), 0, 0, "write", f"cannot write the import: {e.strerror or e}"
            )
        )
        result.written = []
    return result


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; the ones created, innermost first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _outputs(deck: ImportedDeck) -> list[Path]:
    """What one deck writes, relative to the output folder."""
    names = [Path(deck.path.name), lockfile.lock_path(deck.path.name)]
    if deck.media:
        names.append(Path(deck.media_folder))
    return names


def _all_outputs(result: ImportResult) -> list[Path]:
    """Every path the import writes, relative to the output folder."""
    names = [Path(result.shared.path.name)] if result.shared else []
    return names + [name for deck in result.decks for name in _outputs(deck)]


def _refuse_existing(result: ImportResult) -> None:
    for deck in result.decks[:1]:
        for name in _all_outputs(result):
            target = deck.path.parent / name  # every output is in the one output folder
            if target.exists() or target.is_symlink():
                result.diagnostics.append(
                    Diagnostic(
                        str(target),
                        0,
                        0,
                        "exists",
                        "already exists; factdeck import never overwrites: "
                        "move it away or import into another folder with -o DIR",
                    )
                )


def _stage_and_prove(result: ImportResult, stage: Path) -> bool:
    """Write every file into ``stage``, build it, compare with the package, write the locks.

    Notes that factdeck cannot build (a cloze note left without a cloze, a note whose every
    card would be blank, text factdeck refuses) are left out, with a warning naming each.
    Returns False (with diagnostics) when the files still do not build.
    """
    checked, by_path = _stage(result, stage)
    if checked.errors and _leave_out_unbuildable(result, checked, by_path):
        checked, by_path = _stage(result, stage)
    if checked.errors:
        prefix, out_dir = str(stage) + os.sep, result.decks[0].path.parent
        for d in checked.diagnostics:
            final = str(out_dir / d.path[len(prefix) :]) if d.path.startswith(prefix) else d.path
            result.diagnostics.append(
                Diagnostic(final, d.line, d.col, d.code, printable(d.message.replace(prefix, "")), d.severity)
            )
        result.diagnostics.append(
            Diagnostic(
                str(result.source),
                0,
                0,
                "import",
                "the deck files this package would give do not build (errors above, at the lines of "
                "the files the import would write); nothing was written",
            )
        )
        return False
    for built in checked.decks:
        deck = by_path[built.deck.path]
        _compare(deck, built, result)
        lock = lockfile.Lock()
        mods = {note.id: note for note in deck.notes}
        for note in built.notes:
            lock.notes[note.id] = (note.hash, mods[note.id].mod, mods[note.id].added)
        lockfile.advance_guids(lockfile.Lock(), lock, built.notes)
        # the histories the first build would start (a note changed in Anki since it was added
        # had versions nobody recorded), so that `factdeck build --locked` passes right away
        lockfile.advance_history(lock, lock, built.notes)
        for key, nt in built.notetypes().items():
            source = deck.notetypes[key].source if key in deck.notetypes else None
            lock.notetypes[key] = (nt.definition_hash(), source.mod if source else 0, nt.field_names)
        lock_file = stage / lockfile.lock_path(deck.path.name)
        lock_file.write_text(lock.format(), encoding="utf-8")
    return True


def _stage(result: ImportResult, stage: Path) -> tuple[Any, dict[str, ImportedDeck]]:
    """Write the files into ``stage`` and check them as `factdeck check` would."""
    from . import build as pipeline

    if result.shared:
        text = notetype_file_text(result.shared, result.source.name)
        (stage / result.shared.path.name).write_text(text, encoding="utf-8")
    for deck in result.decks:
        text = deck_text(deck, result.source.name, result.shared)
        (stage / deck.path.name).write_text(text, encoding="utf-8")
        if deck.media:
            folder = stage / deck.media_folder
            folder.mkdir(exist_ok=True)
            for name, source in sorted(deck.media.items()):
                shutil.copyfile(source, folder / name)
    by_path = {str(stage / deck.path.name): deck for deck in result.decks}
    return pipeline.check(list(by_path)), by_path


_NAMED_NOTE = re.compile(r"note `([a-z0-9-]+)`")


def _leave_out_unbuildable(result: ImportResult, checked: Any, by_path: dict[str, ImportedDeck]) -> bool:
    """Drop the notes the errors name; False (dropping nothing) when an error names no note."""
    doomed: dict[str, dict[str, str]] = {}
    for d in checked.errors:
        deck = by_path.get(d.path)
        found = _NAMED_NOTE.search(d.message)
        if deck is None or found is None or all(n.id != found.group(1) for n in deck.notes):
            return False
        doomed.setdefault(d.path, {}).setdefault(found.group(1), d.message)
    for path, notes in doomed.items():
        deck = by_path[path]
        deck.notes = [note for note in deck.notes if note.id not in notes]
        for note_id, message in notes.items():
            result.warnings.append(
                f"left out note {note_id} of {deck.path.name}, which factdeck cannot build: {message}"
            )
    counts = Counter(
        nt.source.name for deck in result.decks for note in deck.notes for nt in [deck.notetypes[note.type]]
    )
    result.notetypes = dict(sorted(counts.items()))
    return True


def _compare(deck: ImportedDeck, built: Any, result: ImportResult) -> None:
    """Every built note against the package: fields byte for byte, tags, GUID, cards."""
    by_id = {note.id: note for note in deck.notes}
    changed: list[str] = []
    cards: list[str] = []
    for note in built.notes:
        source = by_id[note.id]
        if tuple(note.fields) != source.original or note.guid != source.guid or note.tags != source.tags:
            names = [
                name
                for name, a, b in zip(deck.notetypes[source.type].source.fields, source.original, note.fields)
                if a != b
            ]
            names += ["tags"] * (note.tags != source.tags) + ["guid"] * (note.guid != source.guid)
            changed.append(f"{note.id} ({', '.join(names)})")
        if sorted(note.ords) != sorted(source.ords):
            cards.append(note.id)
    if changed:
        result.warnings.append(
            f"{deck.path.name}: {len(changed)} notes will not build byte for byte as the package has "
            "them (factdeck removes unsafe HTML such as scripts, and spells sanitised HTML its own way): "
            f"{lockfile.shorten(changed, 5)}"
        )
    if cards:
        result.warnings.append(
            f"{deck.path.name}: {len(cards)} notes get other cards than the package has (Anki keeps "
            f"cards for templates that are empty now; factdeck makes only those Anki would make): "
            f"{lockfile.shorten(cards, 5)}"
        )


def _move_into_place(result: ImportResult, stage: Path) -> None:
    """Rename each staged output into place, never over an existing one; undo all on failure."""
    moved: list[Path] = []
    names = _all_outputs(result)
    moves_begin(str(stage), [str(name) for name in names])  # a SIGKILL below: the next run takes them back
    try:
        out_dir = result.decks[0].path.parent
        for name in names:
            staged, final = stage / name, out_dir / name
            if staged.is_dir():
                if final.exists() or final.is_symlink():
                    raise FileExistsError(errno.EEXIST, "File exists", str(final))
                os.rename(staged, final)
            else:
                os.link(staged, final)  # fails if ``final`` exists, even if made meanwhile
            moved.append(final)
    except BaseException:
        for path in reversed(moved):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        moves_done(str(stage))
        raise
    moves_done(str(stage))
    result.written = moved


# --- the summary ---------------------------------------------------------------------------------


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def summary(result: ImportResult, dry_run: bool) -> str:
    """What was (or would be) written and what was left out, for the terminal."""
    lines = [f"{'would import' if dry_run else 'imported'} {printable(str(result.source))}:"]
    for deck in result.decks:
        parts = [f"deck '{printable(deck.name)}'"]
        if deck.subdecks:
            parts.append(_count(len(deck.subdecks), "subdeck"))
        parts += [_count(len(deck.notes), "note"), _count(len(deck.notetypes), "note type")]
        if deck.media:
            parts.append(f"{_count(len(deck.media), 'media file')} in {deck.path.parent / deck.media_folder}")
        lines.append(f"  {deck.path}: {', '.join(parts)}")
    if result.shared:
        names = ", ".join(printable(nt.source.name) for nt in result.shared.notetypes.values())
        lines.append(f"  {result.shared.path}: the note types several decks use ({names})")
    lines.append(
        "  note types: "
        + ", ".join(
            f"{printable(name)} ({_count(count, 'note')})" for name, count in result.notetypes.items()
        )
    )
    for what in result.left_out:
        lines.append(f"  left out: {printable(what)}")
    for what in result.warnings:
        lines.append(f"  warning: {printable(what)}")
    if result.decks and not dry_run:
        paths = " ".join(str(deck.path) for deck in result.decks)
        lines.append(f"next: `factdeck build {paths}`, then commit the deck, lock and media files")
    return "\n".join(lines)
