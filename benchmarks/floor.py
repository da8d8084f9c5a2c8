"""The floor: the least work any YAML -> .apkg compiler in Python has to do.

    python benchmarks/floor.py DECK.yaml OUT.apkg

It is the yardstick `bench_build.py` compares `factdeck build` against, so it does only
what cannot be skipped, with the same libraries factdeck uses:

1. iterate libyaml's parse events (``yaml.parse(..., Loader=yaml.CSafeLoader)``), collecting
   each note's scalars so that real rows exist (no positions, no validation, no nodes);
2. build one notes row and one cards row per card (a cloze note gets one card per distinct
   ``{{cN::``) and ``executemany`` them into an in-memory SQLite collection with genanki's
   schema, in one transaction. The rows carry the same information factdeck stores (deck
   tags plus note tags; the Sources field as the same small HTML list, built once per
   distinct citation), so the package sizes compare like for like;
3. write the serialised database into a deflate zip, as factdeck does.

No rendering, no Markdown, no hashing beyond what identity strictly needs, no lock file.
It understands only the layout bench_build.py generates: top-level ``tags`` (a list),
``sources`` (key -> title/url) and ``notes`` (mappings of strings and flat lists of strings).
"""

from __future__ import annotations

import html
import re
import sqlite3
import sys
import zipfile

import yaml
from yaml.events import MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent, SequenceStartEvent

try:
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA
except ImportError:  # pragma: no cover - genanki is a factdeck dependency
    sys.exit("floor.py needs genanki (for the Anki collection schema)")

BASIC_MID, CLOZE_MID, DECK_ID = 1764000000101, 1764000000103, 1 << 40
CLOZE = re.compile(r"\{\{c(\d+)::")


def read_deck(path: str) -> tuple[list[str], dict[str, dict], list[dict]]:
    """(deck tags, sources, notes) straight from parse events; a note or source is a dict of
    str -> str | list[str]."""
    tags: list[str] = []
    sources: dict[str, dict] = {}
    notes: list[dict] = []
    depth = 0  # 1 = top mapping, 2 = a top-level value, 3 = a note or source, 4 = a list in a note
    top_key = None  # the top-level key whose value is being read
    expect_key = True  # at depth 1 (and 2 under `sources`): is the next scalar a key?
    src_key = None
    cur: list = []  # the current note or source: key, value, key, value, ...
    items: list[str] = []  # the list being read inside a note
    with open(path, "rb") as f:
        for e in yaml.parse(f, Loader=yaml.CSafeLoader):
            t = type(e)
            if t is ScalarEvent:
                if depth == 3:
                    cur.append(e.value)
                elif depth == 4:
                    items.append(e.value)
                elif depth == 1:
                    if expect_key:
                        top_key = e.value
                    expect_key = not expect_key
                elif depth == 2:
                    if top_key == "sources":
                        src_key = e.value
                    elif top_key == "tags":
                        tags.append(e.value)
            elif t is MappingStartEvent or t is SequenceStartEvent:
                depth += 1
                if depth == 3:
                    cur = []
                elif depth == 4:
                    items = []
            elif t is MappingEndEvent or t is SequenceEndEvent:
                if depth == 3:
                    if top_key == "notes":
                        notes.append(dict(zip(cur[::2], cur[1::2])))
                    elif top_key == "sources":
                        sources[src_key] = dict(zip(cur[::2], cur[1::2]))
                elif depth == 4:
                    cur.append(items)
                elif depth == 2:
                    expect_key = True  # a top-level value ended; a key comes next
                depth -= 1
    return tags, sources, notes


def sources_field(keys: tuple[str, ...], sources: dict[str, dict]) -> str:
    """The same Sources HTML factdeck stores, so both packages carry the same information."""
    items = []
    for key in keys:
        title = html.escape(sources[key]["title"], quote=False)
        url = sources[key].get("url")
        items.append(f'<li><a href="{html.escape(url)}">{title}</a></li>' if url else f"<li>{title}</li>")
    return f'<ul class="fd-sources">{"".join(items)}</ul>' if items else ""


def rows(
    deck_tags: list[str], sources: dict[str, dict], notes: list[dict]
) -> tuple[list[tuple], list[tuple]]:
    """notes and cards rows in Anki's schema, with the fields of factdeck's note types."""
    note_rows, card_rows = [], []
    source_html: dict[tuple[str, ...], str] = {}
    for i, n in enumerate(notes):
        nid = 1_500_000_000_000 + i * 1000  # room for card ids nid + ord
        tags = " " + " ".join(deck_tags + n.get("tags", [])) + " "
        keys = tuple(n.get("sources", ()))
        cited = source_html.get(keys)
        if cited is None:
            cited = source_html[keys] = sources_field(keys, sources)
        if "text" in n:
            fields = (n["text"], n.get("extra", ""), cited, n["id"])
            ords = sorted({int(c) - 1 for c in CLOZE.findall(n["text"])})
            mid = CLOZE_MID
        else:
            fields = (n["front"], n["back"], n.get("extra", ""), cited, n["id"])
            ords = [0]
            mid = BASIC_MID
        note_rows.append((nid, n["id"], mid, 0, -1, tags, "\x1f".join(fields), fields[0], 0, 0, ""))
        for o in ords:
            card_rows.append((nid + o, nid, DECK_ID, o, 0, -1, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 0, ""))
    return note_rows, card_rows


def collection(note_rows: list[tuple], card_rows: list[tuple]) -> bytes:
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(APKG_SCHEMA)
        db.executescript(APKG_COL)
        with db:  # one transaction
            db.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", note_rows)
            db.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
        return db.serialize()
    finally:
        db.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    deck, out = argv
    note_rows, card_rows = rows(*read_deck(deck))
    data = collection(note_rows, card_rows)
    del note_rows, card_rows
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("collection.anki2", data)
        zf.writestr("media", b"{}")
    print(f"floor: {len(data)} bytes of collection -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
