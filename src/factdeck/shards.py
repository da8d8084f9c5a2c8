"""Read a deck file header first, and a large file's notes on two cores.

Reading the header (deck, tags, sources) before the notes lets each note be validated and
assembled the moment the parser finishes it, so only its final form is kept. A block-style
`notes:` list is cut at item boundaries found in the text: each item starts on a line holding
`-` at the list's indentation. The header is parsed with the notes blanked out; each piece of
the notes is parsed as a document of its own, padded with blank lines so every line and column
stays what it is in the file. Nearly all of a large build is per-note Python work, so a large
file's pieces are shared between this process and a forked child: each takes the next piece
not yet taken (``workers.Claims``), and the results are put back together in file order.

Text-level cuts can be fooled (a line `notes:` inside a quoted description, a `- ` line inside a
block scalar), so no cut is trusted until the parser confirms it (``check_header`` and
``check_piece``): the header's `notes` must be a key of the top-level block mapping, right
where the cut found it; every piece must parse as one block list that runs to the end of the
piece; the line after the list must end it in the file too. Then each piece is exactly what the
one-pass parse reads at that place: a cut line starts a new item at the list's indentation,
which ends every scalar and collection of the item before it, and a quoted scalar or flow
collection that ran across a cut would be left open in its piece (a YAML error). Anything that
would let the pieces and the whole disagree makes the caller fall back to the one-pass read:
any YAML error, %TAG directives, an anchor name defined in two parts, an alias used as a note,
aliases, suggestions or card text adding up past the one-pass limits, line ends other than LF
and BOMs (libyaml skips those at line starts). So what users see, errors included, never
depends on this path (tests/test_shards.py compares the two).
"""

from __future__ import annotations

import itertools
import marshal
import re
import struct
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from functools import partial

from . import workers
from .assemble import (
    Built,
    BuiltDeck,
    NoteAssembler,
    deck_anki_id,
    deck_renderer,
    describe,
    output_limit,
    report_unused_media,
)
from .diagnostics import SUGGESTION_BUDGET, Collector, Diagnostic
from .model import Deck, Note
from .notetypes import BY_KEY
from .validate import Identities, NoteReader, check_citations, finish, validate_header
from .yamlload import ALIAS_CHARS, ALIAS_NODES, Outline, Pos, YList, YMap, load

MIN_BYTES = 2_000_000
PIECES = 8  # for a large file: two large pieces, one per process, then smaller ones for either
_NOTES_LINE = re.compile(r"^notes:[ \t]*(?:#.*)?$", re.M)
_DOUBTFUL = ("\r", "\x85", "\u2028", "\u2029", "\ufeff")  # other line ends; BOMs libyaml skips
_FIRST_ITEM = re.compile(r"^( *)-(?: |$)", re.M)


def _notes_lines(text: str) -> list[re.Match[str]]:
    """Every line `notes:` at column 0 (``^`` under re.M is tried at every character: slow)."""
    starts = [0] if text.startswith("notes:") else []
    at = text.find("\nnotes:")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\nnotes:", at + 1)
    return [m for m in (_NOTES_LINE.match(text, i) for i in starts) if m]


Piece = tuple[int, int, int]  # (lines before, start, end) in the file's text
Tally = tuple[list[str], int, int, int, int]  # see _tally
# Per valid note, in file order: its id and where it stands, its guid (None if it has none) and
# where that stands, the first and end diagnostic its own checks made, its index among the built
# notes (-1: it made no note) and, when it made none, the source keys it cites.
Placed = tuple[str, Pos, str | None, Pos | None, int, int, int, list[str]]
# built notes, media, diagnostics, placed notes, count, tally, subdeck spellings (first positions)
PieceResult = tuple[list[Built], dict[str, str], list[Diagnostic], list[Placed], int, Tally, dict[str, Pos]]


class Fallback(Exception):
    """This file needs the ordinary one-pass read."""


@dataclass(frozen=True)
class Cut:
    """Where the text was cut: the header document, the pieces of the notes as (lines before,
    start, end), and what the parser must confirm about them."""

    header: str
    pieces: list[Piece]
    notes_line: int  # 1-based line of `notes:`
    indent: int  # of the list's `-`


def split(text: str, pieces: int) -> Cut:
    """Cut the text at `notes:` and at items of its list, or raise Fallback."""
    found = _notes_lines(text)
    if len(found) != 1 or any(c in text for c in _DOUBTFUL):
        raise Fallback
    notes_line = found[0]
    first = _FIRST_ITEM.search(text, notes_line.end())
    if first is None or text.count("\n", notes_line.end(), first.start()) != 1:
        raise Fallback  # only a list starting on the next line is cut here
    indent = len(first.group(1))
    # The first line that is neither blank, a comment, deeper, nor an item at the list's
    # indentation. Each pattern starts with a line end, which the regex engine finds fast.
    if indent:
        end_re = re.compile(rf"\n(?: {{0,{indent - 1}}}[^ \n#]| {{{indent}}}[^ \n#-]| {{{indent}}}-[^ \n])")
    else:
        end_re = re.compile(r"\n(?:[^ \n#-]|-[^ \n])")
    end = end_re.search(text, first.start())  # the item's own line cannot match: it is `-` then space
    block_end = end.start() + 1 if end else len(text)
    if end and (text[block_end] == "-" or text[block_end + indent - 1 : block_end + indent] == " "):
        raise Fallback  # the line after the list must end the list in the file too: less indented
    start, size = first.start(), block_end - first.start()
    item_re = re.compile(rf"^ {{{indent}}}-(?: |$)", re.M)
    cuts = [start]
    for share in itertools.accumulate(_shares(pieces)[:-1]):
        found_item = item_re.search(text, start + int(size * share), block_end)
        if found_item and found_item.start() > cuts[-1]:
            cuts.append(found_item.start())
    cuts.append(block_end)
    docs, line = [], text.count("\n", 0, start)
    for lo, hi in itertools.pairwise(cuts):
        docs.append((line, lo, hi))
        line += text.count("\n", lo, hi)
    header = (
        text[: notes_line.start()]
        + "notes: []"
        + text[notes_line.end() : start]
        + "\n" * (line - docs[0][0])
        + text[block_end:]
    )
    return Cut(header, docs, text.count("\n", 0, notes_line.start()) + 1, indent)


def _shares(pieces: int) -> list[float]:
    """Each piece's share of the notes: up to three, equal; more, the first two take two thirds
    and the rest get smaller and smaller, so whichever process is free takes the next one and
    both end within a small piece of each other, however unevenly their cores run."""
    if pieces <= 3:
        return [1 / pieces] * pieces
    rest = [0.6**k for k in range(pieces - 2)]
    return [1 / 3, 1 / 3] + [w / sum(rest) / 3 for w in rest]


def piece_document(text: str, piece: Piece) -> str:
    """A piece of the notes as a document of its own, every line where it is in the file."""
    line, lo, hi = piece
    return "\n" * (line - 1) + "notes:\n" + text[lo:hi]


def check_header(tree: object, outline: Outline, cut: Cut) -> None:
    """The parser read the header's `notes` where the cut put it: a key of the top-level block
    mapping with our empty list as its value, no %TAG directive to change tags in the pieces."""
    if (
        outline.root_flow is not False
        or outline.tag_directives
        or type(tree) is not YMap
        or tree.key_pos.get("notes") != (cut.notes_line, 1)
        or tree.val_pos["notes"] != (cut.notes_line, 8)
        or type(tree["notes"]) is not YList
        or tree["notes"]
    ):
        raise Fallback


def piece_end(text: str, hi: int) -> tuple[int, int]:
    """Where libyaml ends a list that runs to the end of a piece: the start of the line after."""
    line = text.count("\n", 0, hi) + 1
    return (line, 1) if hi == 0 or text[hi - 1] == "\n" else (line + 1, 1)


_TEXT = ""  # the file being read: a forked child inherits it instead of receiving a copy


def _compile_piece(path: str, piece: Piece, deck: Deck) -> PieceResult:
    """Parse, validate and assemble one piece: (built notes, media, diagnostics, id positions,
    count, tally), where the tally sums what the whole file must stay within (see ``_tally``).

    Each note is assembled as soon as it is valid, so only its final form is kept.
    """
    out = Collector(path)
    assembler = NoteAssembler(deck, deck_renderer(deck), out)
    assembler.first_tokens = True

    placed: list[Placed] = []
    # Which notes repeat an id or a guid is decided once every piece is read (compile_file);
    # each valid note is checked and assembled here, and can be dropped with what it made.
    reader = NoteReader(out, None, deck, admit=False)
    where = reader.placed

    def emit(note: Note) -> None:
        start, made = len(out.items), len(assembler.built)
        check_citations([note], deck.sources, out)
        assembler.add(note)
        id_pos, guid_pos = where[len(placed)]
        index = made if len(assembler.built) > made else -1
        sources = note.sources if index < 0 else []
        placed.append((note.id, id_pos, note.guid, guid_pos, start, len(out.items), index, sources))

    reader.emit = emit
    outline = Outline()
    load(piece_document(_TEXT, piece), out, on_note=reader, outline=outline)
    if any(d.code.startswith("yaml") for d in out.items) or reader.aliased:
        raise Fallback
    if outline.notes_end != piece_end(_TEXT, piece[2]):
        raise Fallback  # the list ended before the piece did: the cut is not where the list is
    tally = _tally(outline, out.suggestion_work, assembler.size)
    return (
        assembler.built,
        assembler.renderer.media,
        out.items,
        placed,
        reader.count,
        tally,
        reader.check.subdecks,
    )


def _tally(outline: Outline, suggestion_work: int, size: int) -> Tally:
    return (
        sorted(outline.anchors),
        outline.alias_nodes,
        outline.alias_chars,
        suggestion_work,
        size,
    )


def _within_limits(tallies: list[Tally], text: str) -> bool:
    """True when the parts together stay within what the one-pass read allows, so that no limit
    the one-pass read would hit part-way (and report there) is hit: every anchor name belongs to
    one part (an alias then means the same in a part and in the whole), alias expansion, "did you
    mean" work and card text all stay within the one-pass budgets."""
    names = [name for tally in tallies for name in tally[0]]
    nodes = sum(tally[1] for tally in tallies)
    chars = sum(tally[2] for tally in tallies)
    work = sum(tally[3] for tally in tallies)
    size = sum(tally[4] for tally in tallies)
    return (
        len(names) == len(set(names))
        and nodes <= ALIAS_NODES
        and chars <= ALIAS_CHARS
        and work <= SUGGESTION_BUDGET
        and size <= output_limit(len(text))
    )


def _in_child(path: str, pieces: list[Piece], deck: Deck, claims: workers.Claims) -> bytes | None:
    """Piece 1, then every piece left to claim, each framed as (piece number, length, packed
    piece); None when any piece needs the one-pass read."""
    frames = []
    for index in itertools.chain([1], claims):
        try:
            packed = _pack(_compile_piece(path, pieces[index], deck))
        except Exception:
            return None
        frames += [_FRAME.pack(index, len(packed)), packed]
    return b"".join(frames)


_FRAME = struct.Struct("<IQ")


def _unframe(blob: bytes) -> Iterator[tuple[int, memoryview]]:
    view, at = memoryview(blob), 0
    while at < len(view):
        index, size = _FRAME.unpack_from(view, at)
        at += _FRAME.size
        yield index, view[at : at + size]
        at += size


def _pack(result: PieceResult) -> bytes:
    """A piece as flat columns of plain values (a note type by its key): marshal reads those
    back far faster than pickle reads 50,000 small objects."""
    built, media, diags, positions, count, tally, subdecks = result
    columns = [
        [b.id for b in built],
        [b.guid for b in built],
        [b.notetype.key for b in built],
        [b.flds for b in built],
        [b.tags for b in built],
        [b.ords for b in built],
        [b.hash for b in built],
        [b.sources for b in built],
        [b.subdeck for b in built],
        [b.own_guid for b in built],
        [b.first for b in built],
        [b.csum for b in built],
    ]
    return marshal.dumps((columns, media, [astuple(d) for d in diags], positions, count, tally, subdecks))


def _unpack(blob: bytes | memoryview, deck: Deck) -> PieceResult:
    columns, media, diags, positions, count, tally, subdecks = marshal.loads(blob)
    types = {**BY_KEY, **deck.notetypes}
    columns[2] = [types[key] for key in columns[2]]
    built = list(map(Built._make, zip(*columns)))
    return built, media, [Diagnostic(*d) for d in diags], positions, count, tally, subdecks


def compile_file(path: str, text: str, pieces: int = 2) -> tuple[BuiltDeck | None, list[Diagnostic]]:
    """The header-first read of one file, its notes cut in ``pieces`` that this process and a
    forked child read (see ``_shares``); raises Fallback when the file's layout or content
    needs the one-pass read."""
    cut = split(text, pieces)
    out = Collector(path, cut.header)  # the header keeps every line and column of the file
    outline = Outline()
    tree = load(cut.header, out, outline=outline)
    if any(d.code.startswith("yaml") for d in out.items):
        raise Fallback
    check_header(tree, outline, cut)
    header = validate_header(tree, path, out)
    if header is None:
        raise Fallback
    deck, notes_list = header
    global _TEXT
    _TEXT = text
    mine: dict[int, PieceResult] = {}
    children: list[workers.Worker] = []
    claims: workers.Claims | None = None
    try:
        try:
            claims = workers.Claims(range(2, len(cut.pieces)))
            if len(cut.pieces) > 1:
                children.append(workers.Worker(partial(_in_child, path, cut.pieces, deck, claims)))
            for index in itertools.chain([0], claims):
                mine[index] = _compile_piece(path, cut.pieces[index], deck)
        except OSError:  # no memory or processes left to fork: the one-pass read does it all
            workers.end(children, kill=True)
            raise Fallback from None
        except BaseException:  # a piece needs the one-pass read, or interrupted, or out of memory
            workers.end(children, kill=True)
            raise
        packed = [child.result() for child in children]
    finally:
        _TEXT = ""
        if claims is not None:
            claims.close()
    if any(not blob for blob in packed):
        raise Fallback
    theirs = {index: piece for blob in packed for index, piece in _unframe(blob)}
    if sorted([*mine, *theirs]) != list(range(len(cut.pieces))):  # pragma: no cover - each is claimed once
        raise Fallback
    results = [mine[i] if i in mine else _unpack(theirs[i], deck) for i in range(len(cut.pieces))]
    del mine, theirs, packed  # the child's bytes, once unpacked
    header_tally = _tally(outline, out.suggestion_work, 0)
    if not _within_limits([header_tally] + [r[5] for r in results], text):
        raise Fallback
    built: list[Built] = []
    cited: set[str] = set()
    identities = Identities(out)
    admit = identities.admit
    count = 0
    media: dict[str, str] = {}
    for piece_built, piece_media, diags, placed, piece_count, _, subdecks in results:
        for sub, pos in subdecks.items():  # pieces in file order: each spelling's first value
            deck.subdeck_pos.setdefault(sub, pos)
        # A note that repeats an id or a guid (of any piece) is dropped with the diagnostics of
        # its own checks, as the one-pass read drops it before making them.
        dropped: set[int] = set()
        count += piece_count
        media.update(piece_media)
        for note_id, id_pos, guid, guid_pos, start, end, index, sources in placed:
            if not admit(note_id, id_pos, False, guid, guid_pos):
                dropped.update(range(start, end))
            elif index >= 0:
                note = piece_built[index]
                built.append(note)
                cited.update(note.sources)
            else:
                cited.update(sources)
        out.items.extend(d for i, d in enumerate(diags) if i not in dropped)
    finish(deck, count, notes_list, cited, out)
    renderer = deck_renderer(deck)
    description = describe(deck, renderer, out)
    result = BuiltDeck(
        deck, deck_anki_id(deck.id), description, built, media, frozenset(renderer.folder_files)
    )
    result.media.update(renderer.media)
    report_unused_media(deck, renderer, result.media, out)
    return result, out.items


available = workers.available
