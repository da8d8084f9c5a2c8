"""Naive baselines for context: load the whole YAML with PyYAML, then write with genanki.

    python benchmarks/naive.py safe  DECK.yaml OUT.apkg   # yaml.safe_load (pure-Python constructor)
    python benchmarks/naive.py csafe DECK.yaml OUT.apkg   # yaml.load(Loader=yaml.CSafeLoader)

This is what a first version of a YAML -> Anki tool usually looks like: no validation, no
rendering, genanki's stock note types, row-by-row inserts and a stored (uncompressed) zip.
"""

from __future__ import annotations

import sys

import genanki
import yaml

DECK_ID = 1 << 40


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("safe", "csafe"):
        print("usage: naive.py safe|csafe DECK.yaml OUT.apkg", file=sys.stderr)
        return 2
    mode, path, out = argv
    with open(path, "rb") as f:
        data = yaml.safe_load(f) if mode == "safe" else yaml.load(f, Loader=yaml.CSafeLoader)
    deck = genanki.Deck(DECK_ID, data["deck"]["name"])
    for n in data["notes"]:
        tags = list(data.get("tags", [])) + list(n.get("tags", []))
        sources = " ".join(n.get("sources", []))
        if "text" in n:
            note = genanki.Note(
                model=genanki.CLOZE_MODEL,
                fields=[n["text"], n.get("extra", "")],
                tags=tags,
                guid=genanki.guid_for("bench", n["id"]),
            )
        else:
            note = genanki.Note(
                model=genanki.BASIC_MODEL,
                fields=[n["front"], n["back"] + (f"<br>{sources}" if sources else "")],
                tags=tags,
                guid=genanki.guid_for("bench", n["id"]),
            )
        deck.add_note(note)
    genanki.Package(deck).write_to_file(out)
    print(f"naive-{mode}: {len(deck.notes)} notes -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
