"""Reading any Anki package with Anki's own code: .apkg (legacy and modern) and .colpkg.

factdeck does not parse Anki's newer formats itself (zstd collections, protobuf media maps):
the official ``anki`` library imports the package into a fresh collection in a temporary
folder, and everything is read back through that collection. The ``anki`` library is an
optional extra; without it, reading raises ``AnkiMissing`` with the command that installs it.

Packages are untrusted. Before Anki sees one, the zip's directory is checked (members,
declared sizes); while Anki unpacks it, no single file it writes may exceed ``MAX_FILE``
(a zstd bomb inside the zip is caught by the file-size limit, not by trusting a header).
Every failure is a ``PackageError`` with a sentence a user can act on.
"""

from __future__ import annotations

import contextlib
import html
import os
import resource
import signal
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..output import private_workdir
from .read import PackageError

INSTALL_HINT = "pip install 'factdeck[anki]'"
MAX_FILE = 1 << 30  # bytes: no file Anki unpacks from a package may be larger
MAX_TOTAL = 16 << 30  # bytes: the sum of the sizes the zip declares
MAX_MEMBERS = 1_000_000
IMAGE_OCCLUSION = 6  # Anki's StockNotetype.Kind for Image Occlusion
_COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
_lock = threading.Lock()  # the file-size limit is per process: one unpacking at a time


class AnkiMissing(PackageError):
    """The optional ``anki`` library is not installed."""


@dataclass(frozen=True)
class Template:
    name: str
    front: str
    back: str


@dataclass(frozen=True)
class Notetype:
    id: int
    name: str
    cloze: bool
    mod: int  # seconds
    fields: tuple[str, ...]
    templates: tuple[Template, ...]
    css: str
    sort_field: int  # index into fields
    stock_kind: int  # Anki's original stock kind (0: none; IMAGE_OCCLUSION: ...)
    static_media: tuple[str, ...]  # files the templates and CSS use (`_font.woff`, ...)


@dataclass(frozen=True)
class Card:
    ord: int
    deck: str  # full deck name, `A::B`; a filtered deck's card counts in its home deck


@dataclass(frozen=True)
class Note:
    id: int  # milliseconds since 1970: when the note was added
    guid: str
    notetype: int
    mod: int  # seconds: when the note was last changed
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    cards: tuple[Card, ...]  # by ord
    media: tuple[str, ...]  # files in the package that the fields use


@dataclass
class Contents:
    """What a package holds, as Anki reads it. Media paths live until the reading ends."""

    notetypes: dict[int, Notetype] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    deck_descriptions: dict[str, str] = field(default_factory=dict)  # full deck name -> HTML
    media: dict[str, Path] = field(default_factory=dict)  # file name -> unpacked file
    media_total: int = 0  # files in the package, used or not
    reviewed_cards: int = 0
    reviews: int = 0  # entries of review history
    deck_options: int = 0  # option presets beyond Anki's default


def anki_available() -> bool:
    try:
        import anki.collection  # noqa: F401
    except ImportError:
        return False
    return True


def _require_anki() -> None:
    if not anki_available():
        raise AnkiMissing(f"reading Anki's package formats needs Anki's own library: {INSTALL_HINT}")


@contextlib.contextmanager
def read_package(path: Path) -> Iterator[Contents]:
    """The notes, note types, decks and media of an .apkg or .colpkg, read by Anki itself.

    Raises PackageError (AnkiMissing when the library is absent) for anything Anki cannot
    read. The media files exist only inside the ``with`` block.
    """
    _require_anki()
    colpkg = _check_zip(path)
    with private_workdir(purpose="read") as tmp:  # a killed reader's is removed by `recover`
        col = _unpack(path, Path(tmp), colpkg)
        try:
            contents = _contents(col)
        except Exception as e:
            raise PackageError(f"Anki could not read the package: {_anki_message(e)}") from None
        finally:
            col.close(downgrade=False)
        yield contents


def _check_zip(path: Path) -> bool:
    """True for a collection package (.colpkg); raises PackageError for anything not a package."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except FileNotFoundError:
        raise PackageError("no such file") from None
    except IsADirectoryError:
        raise PackageError("is a folder, not a package file") from None
    except zipfile.BadZipFile:
        raise PackageError("not an Anki package (not a zip file)") from None
    except (OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as e:
        raise PackageError(f"cannot read the package: {getattr(e, 'strerror', None) or e}") from None
    if len(infos) > MAX_MEMBERS:
        raise PackageError(f"the package holds more than {MAX_MEMBERS} files; refusing to unpack it")
    names = {info.filename for info in infos}
    if not names & set(_COLLECTIONS):
        raise PackageError("not an Anki package: it holds no collection.anki2")
    if any(info.file_size > MAX_FILE for info in infos):
        raise PackageError(
            f"a file in the package is larger than {MAX_FILE >> 20} MiB; refusing to unpack it"
        )
    if sum(info.file_size for info in infos) > MAX_TOTAL:
        raise PackageError(f"the package unpacks to more than {MAX_TOTAL >> 30} GiB; refusing to unpack it")
    return path.suffix.lower() == ".colpkg"


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """No file written meanwhile may pass ``limit`` bytes: writes fail instead (EFBIG).

    The limit is per process, so unpackings take turns; SIGXFSZ is ignored meanwhile so that
    an oversized write is an error Anki reports, not the end of the process.
    """
    with _lock:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        capped = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN) if main_thread else None
        resource.setrlimit(resource.RLIMIT_FSIZE, (capped, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            if main_thread:
                signal.signal(signal.SIGXFSZ, previous)


def _unpack(path: Path, tmp: Path, colpkg: bool) -> Any:
    """A collection in ``tmp`` holding exactly what the package holds."""
    from anki._backend import RustBackend
    from anki.collection import Collection

    col_path = tmp / "collection.anki2"
    try:
        with _file_size_limit(MAX_FILE):
            if colpkg:
                backend = RustBackend()
                backend.import_collection_package(
                    col_path=str(col_path),
                    backup_path=str(path.resolve()),
                    media_folder=str(tmp / "collection.media"),
                    media_db=str(tmp / "collection.media.db2"),
                )
                return Collection(str(col_path), backend=backend)
            col = Collection(str(col_path))
            try:
                _clear_stock_notetypes(col)
                _import_apkg(col, path)
            except BaseException:
                col.close(downgrade=False)
                raise
            return col
    except PackageError:
        raise
    except Exception as e:
        message = _anki_message(e)
        if "File too large" in message or "os error 27" in message:
            message = f"a file in it unpacks to more than {MAX_FILE >> 20} MiB"
        raise PackageError(f"Anki could not read the package: {message}") from None


def _clear_stock_notetypes(col: Any) -> None:
    """Make way for the package's note types: a fresh collection's stock Basic would make
    Anki rename the package's Basic to "Basic+" (and give it a new time)."""
    for entry in col.models.all_names_and_ids():
        col.models.remove(entry.id)
    for entry in col.models.all_names_and_ids():  # Anki keeps (or recreates) one
        model = col.models.get(entry.id)
        model["name"] = f"factdeck placeholder {os.urandom(8).hex()}"
        col.models.update_dict(model)


def _import_apkg(col: Any, path: Path) -> None:
    from anki import import_export_pb2 as pb
    from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest

    options = ImportAnkiPackageOptions(
        merge_notetypes=False,
        update_notes=pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS,
        update_notetypes=pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS,
        with_scheduling=True,  # only to count what the import leaves out
        with_deck_configs=True,
    )
    col.import_anki_package(ImportAnkiPackageRequest(package_path=str(path.resolve()), options=options))


def _anki_message(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())[:300]


def _contents(col: Any) -> Contents:
    contents = Contents()
    used_types = {mid for (mid,) in col.db.all("SELECT DISTINCT mid FROM notes")}
    for model in col.models.all():
        if model["id"] in used_types:
            contents.notetypes[model["id"]] = _notetype(col, model)
    deck_names = {d.id: d.name for d in col.decks.all_names_and_ids()}
    for deck in col.decks.all():
        desc = deck.get("desc", "")
        if isinstance(desc, str) and desc:
            contents.deck_descriptions[deck["name"]] = desc
    cards: dict[int, list[Card]] = {}
    for nid, ord_, did, odid in col.db.all("SELECT nid, ord, did, odid FROM cards ORDER BY nid, ord"):
        cards.setdefault(nid, []).append(Card(ord_, deck_names.get(odid or did, "Default")))
    media_dir = Path(col.media.dir())
    present = (
        {entry.name for entry in os.scandir(media_dir) if entry.is_file(follow_symlinks=False)}
        if media_dir.is_dir()
        else set()
    )
    contents.media_total = len(present)
    for nid, guid, mid, mod, flds, tags in col.db.all(
        "SELECT id, guid, mid, mod, flds, tags FROM notes ORDER BY id"
    ):
        fields = tuple(flds.split("\x1f"))
        used: list[str] = []
        for ref in col.media.files_in_str(mid, " ".join(fields)):
            name = _media_name(ref, present)  # None: not in the package (the import names those)
            if name is not None and name not in used:
                used.append(name)
        contents.notes.append(
            Note(nid, guid, mid, mod, fields, tuple(tags.split()), tuple(cards.get(nid, ())), tuple(used))
        )
    for notetype in contents.notetypes.values():
        for name in notetype.static_media:
            if name in present:
                contents.media[name] = media_dir / name
    for note in contents.notes:
        for name in note.media:
            contents.media[name] = media_dir / name
    contents.reviewed_cards = col.db.scalar("SELECT count() FROM cards WHERE type != 0") or 0
    contents.reviews = col.db.scalar("SELECT count() FROM revlog") or 0
    contents.deck_options = max(0, len(col.decks.all_config()) - 1)
    return contents


def _notetype(col: Any, model: dict[str, Any]) -> Notetype:
    fields = tuple(f["name"] for f in model["flds"])
    try:
        static = tuple(col.media.extract_static_media_files(model["id"]))
    except Exception:
        static = ()
    return Notetype(
        id=model["id"],
        name=model["name"],
        cloze=model.get("type") == 1,
        mod=int(model.get("mod") or 0),
        fields=fields,
        templates=tuple(Template(t["name"], t["qfmt"], t["afmt"]) for t in model["tmpls"]),
        css=model.get("css", ""),
        sort_field=min(max(int(model.get("sortf") or 0), 0), max(len(fields) - 1, 0)),
        stock_kind=int(model.get("originalStockKind") or 0),
        static_media=static,
    )


def _media_name(ref: str, present: set[str]) -> str | None:
    """The media file a reference in a field names: as written, HTML-unescaped, or URL-decoded."""
    for candidate in (ref, html.unescape(ref), unquote(html.unescape(ref))):
        if candidate in present:
            return candidate
    return None
