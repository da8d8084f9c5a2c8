"""`factdeck import`: packages made by Anki (modern and legacy, .apkg and .colpkg) and by genanki
become deck files that rebuild them exactly, checked against real Anki collections."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from factdeck.build import build

T0 = 1_700_000_000
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
    b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
TABLE = "<table><tbody><tr><td><b>Drug</b></td><td>Site</td></tr><tr><td>baclofen</td><td>spinal cord</td></tr></tbody></table>"


def make_collection(col):
    """Step 1 of the issue: stock Basic, Basic (and reversed card) and Cloze, a custom type with
    three fields and two templates, subdecks, hierarchical tags, formatted HTML, an image and
    some reviewed cards."""
    c = col.col
    models = c.models
    custom = models.new("Drug profile")
    for name in ("Drug", "Mechanism", "Notes"):
        models.add_field(custom, models.new_field(name))
    for name, front, back in (
        ("Mechanism", "{{Drug}}: mechanism?", "{{FrontSide}}<hr id=answer>{{Mechanism}}"),
        ("Notes", "{{#Notes}}{{Drug}}: what else?{{/Notes}}", "{{FrontSide}}<hr id=answer>{{Notes}}"),
    ):
        template = models.new_template(name)
        template["qfmt"], template["afmt"] = front, back
        models.add_template(custom, template)
    custom["css"] = ".card { font-family: serif; }\n"
    custom["sortf"] = 1  # Mechanism
    models.add(custom)
    c.media.write_data("heart.png", PNG)
    c.media.write_data("unused.png", PNG + b"x")
    top = c.decks.id("Pharmacology")
    relaxants = c.decks.id("Pharmacology::Muscle relaxants")
    other = c.decks.id("Physiology")

    def add(type_name, deck, tags, **fields):
        note = c.new_note(models.by_name(type_name))
        for key, value in fields.items():
            note[key] = value
        note.tags = tags
        c.add_note(note, deck)
        return note

    add(
        "Basic",
        relaxants,
        ["pharm::gaba", "spasticity"],
        Front="<div><b>Baclofen</b>: mechanism?</div>",
        Back="GABA-B agonist<br>at the&nbsp;spinal cord",
    )
    add("Basic", relaxants, ["pharm::gaba"], Front="Baclofen: mechanism?", Back="duplicate sort field")
    add("Basic", top, [], Front="Tizanidine class", Back="alpha-2 agonist")
    add("Basic (and reversed card)", top, ["pharm"], Front="Dantrolene", Back="ryanodine receptor")
    add(
        "Cloze",
        top,
        ["pharm::gaba::intrathecal"],
        Text="{{c1::Intrathecal}} baclofen via a {{c2::pump::device}} &amp; {{c3::catheter}}",
        **{"Back Extra": TABLE},
    )
    add(
        "Drug profile",
        relaxants,
        [],
        Drug="Baclofen",
        Mechanism='<div>GABA-B</div><div><img src="heart.png"></div>',
        Notes="Oral &lt;or&gt; intrathecal",
    )
    add("Drug profile", other, ["physio"], Drug="Muscle spindle", Mechanism="stretch receptor")
    col.review_all()
    return c


def export(c, path, legacy):
    from anki.collection import ExportAnkiPackageOptions

    options = ExportAnkiPackageOptions(
        with_scheduling=True, with_deck_configs=True, with_media=True, legacy=legacy
    )
    c.export_anki_package(out_path=str(path), options=options, limit=None)
    return path


def notes_of(col):
    """guid -> (note type name, fields, tags) of every note."""
    c = col.col
    out = {}
    for nid in c.find_notes(""):
        note = c.get_note(nid)
        out[note.guid] = (note.note_type()["name"], list(note.fields), sorted(note.tags))
    return out


def cards_of(col):
    """guid -> sorted (ord, deck name) of every note's cards."""
    c = col.col
    out: dict[str, list] = {}
    for cid in c.find_cards(""):
        card = c.get_card(cid)
        out.setdefault(c.get_note(card.nid).guid, []).append((card.ord, c.decks.name(card.did)))
    return {guid: sorted(cards) for guid, cards in out.items()}


def scheduling_of(col):
    c = col.col
    cards = c.db.all("SELECT id, type, queue, due, ivl, factor, reps, lapses FROM cards ORDER BY id")
    return cards, c.db.scalar("SELECT count() FROM revlog")


def media_of(col):
    folder = Path(col.col.media.dir())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def definitions_of(col):
    """guid -> what Anki stores for the note's type: id, kind, fields, templates, CSS, sort field."""
    out = {}
    for nid in col.col.find_notes(""):
        note = col.col.get_note(nid)
        m = note.note_type()
        out[note.guid] = (
            m["id"],
            m["type"],
            [f["name"] for f in m["flds"]],
            [(t["name"], t["qfmt"], t["afmt"]) for t in m["tmpls"]],
            m["css"],
            m["sortf"],
        )
    return out


def notetypes_of(col):
    return sorted((m.id, m.name) for m in col.col.models.all_names_and_ids())


def import_cli(run, package, out):
    result = run("import", package, "-o", out)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(params=["modern", "legacy"])
def original(request, anki, tmp_path):
    """The collection of step 1 and its export (step 2) in Anki's modern or legacy format."""
    col = anki()
    make_collection(col)
    package = export(col.col, tmp_path / f"{request.param}.apkg", legacy=request.param == "legacy")
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
    assert ("collection.anki21b" in names) == (request.param == "modern")
    return col, package


def test_building_an_import_and_importing_it_over_the_original_changes_nothing(original, run, tmp_path):
    col, package = original
    out = tmp_path / "decks"
    summary = import_cli(run, package, out).stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "anki-notetypes.yaml",  # Drug profile: used by both decks, declared once
        "pharmacology-media",
        "pharmacology.lock",
        "pharmacology.yaml",
        "physiology.lock",
        "physiology.yaml",
    ]
    assert sorted(p.name for p in (out / "pharmacology-media").iterdir()) == ["heart.png"]
    assert "left out: scheduling, review history and deck options: each user's own" in summary
    assert "(this package has 11 studied cards, 11 reviews, 0 option presets of its own)" in summary
    before = (notes_of(col), cards_of(col), scheduling_of(col), notetypes_of(col))

    built = build([str(out)], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    assert not any(r.changes.any() for r in built.reports)  # the lock the import wrote is current
    log = col.import_package(tmp_path / "rebuilt.apkg")
    assert len(log.new) == 0 and len(log.updated) == 0
    assert (notes_of(col), cards_of(col), scheduling_of(col), notetypes_of(col)) == before


def test_editing_one_field_after_an_import_updates_exactly_that_note(original, run, tmp_path):
    col, package = original
    out = tmp_path / "decks"
    import_cli(run, package, out)
    deck = out / "pharmacology.yaml"
    text = deck.read_text(encoding="utf-8")
    assert text.count("alpha-2 agonist") == 1
    deck.write_text(text.replace("alpha-2 agonist", "central alpha-2 agonist"), encoding="utf-8")
    history = scheduling_of(col)[1]

    built = build([str(out)], output=tmp_path / "edited.apkg", now=T0)
    assert not built.errors, built.diagnostics
    assert [r.changes.changed for r in built.reports] == [["tizanidine-class"], []]
    log = col.import_package(tmp_path / "edited.apkg")
    assert len(log.new) == 0 and len(log.updated) == 1
    backs = [fields[1] for _, fields, _ in notes_of(col).values() if fields[0] == "Tizanidine class"]
    assert backs == ["central alpha-2 agonist"]
    assert scheduling_of(col)[1] == history


def test_a_fresh_collection_gets_from_the_rebuilt_deck_what_the_original_package_gives(
    original, run, tmp_path, anki
):
    _, package = original
    out = tmp_path / "decks"
    import_cli(run, package, out)
    built = build([str(out)], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    from_original, from_rebuilt = anki(), anki()
    from_original.import_package(package)
    from_rebuilt.import_package(tmp_path / "rebuilt.apkg")
    assert notes_of(from_rebuilt) == notes_of(from_original)
    assert cards_of(from_rebuilt) == cards_of(from_original)
    assert media_of(from_rebuilt) == {
        name: digest for name, digest in media_of(from_original).items() if name != "unused.png"
    }
    assert definitions_of(from_rebuilt) == definitions_of(from_original)


MISSING_FIELDS = [  # (Front, Back) of Basic notes naming files the package lacks
    ('<img src="missing.png"> beside <img src="heart.png">', "[sound:gone.mp3]"),
    ("plain text", "[sound:gone.mp3] and [sound:also&amp;gone.mp3]"),
    ('<img src="a%20b.png">', 'x <img src="a&amp;b.png">'),
    ('<div style="background: url(_bg.png)">styled</div>', '**<img src="missing.png">**'),
    ("![md](md.png)", "literal Markdown, not an image to Anki"),
]


@pytest.mark.parametrize("legacy", [False, True])
def test_notes_naming_files_the_package_lacks_are_kept_and_rebuild_the_same_html(anki, run, tmp_path, legacy):
    col = anki()
    c = col.col
    c.media.write_data("heart.png", PNG)
    for front, back in MISSING_FIELDS:
        note = c.new_note(c.models.by_name("Basic"))
        note["Front"], note["Back"] = front, back
        c.add_note(note, c.decks.id("Missing"))
    deck = c.decks.get(c.decks.id("Missing"))
    deck["desc"] = 'The deck <img src="cover.png">'
    c.decks.save(deck)
    package = export(c, tmp_path / "missing.apkg", legacy=legacy)
    out = tmp_path / "decks"
    result = import_cli(run, package, out)
    assert "left out note" not in result.stdout
    assert f"  {out / 'missing.yaml'}: deck 'Missing', {len(MISSING_FIELDS)} notes" in result.stdout
    warned = {
        line.split("'")[1]: line
        for line in result.stdout.splitlines()
        if line.startswith("  warning: media file ")
    }
    assert sorted(warned) == [
        "_bg.png",
        "a%20b.png",
        "a&b.png",
        "also&gone.mp3",
        "cover.png",
        "gone.mp3",
        "missing.png",
    ]
    assert warned["cover.png"].endswith(": the deck description")
    assert warned["gone.mp3"].endswith(": note beside, note plain-text")
    assert warned["missing.png"].endswith(": note beside, note styled")
    assert "missing.yaml keeps the references as written (under `deck: missing-media:`)" in warned["gone.mp3"]
    assert "will not build byte for byte" not in result.stdout
    rebuilt = build([str(out / "missing.yaml")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not rebuilt.errors, rebuilt.diagnostics
    assert [d.code for d in rebuilt.diagnostics] == ["missing-media"]  # one warning, at the list
    from_original, from_rebuilt = anki(), anki()
    from_original.import_package(package)
    from_rebuilt.import_package(tmp_path / "rebuilt.apkg")
    assert notes_of(from_rebuilt) == notes_of(from_original)
    assert media_of(from_rebuilt) == media_of(from_original)
    assert sorted(from_rebuilt.col.media.check().missing) == sorted(from_original.col.media.check().missing)
    descriptions = [c.col.decks.by_name("Missing")["desc"] for c in (from_original, from_rebuilt)]
    assert descriptions == ['The deck <img src="cover.png">'] * 2


def test_import_writes_readable_deck_files(original, run, tmp_path):
    _, package = original
    out = tmp_path / "decks"
    import_cli(run, package, out)
    text = (out / "pharmacology.yaml").read_text(encoding="utf-8")
    assert "  name: Pharmacology\n  media: pharmacology-media\n" in text
    assert "- id: baclofen-mechanism\n" in text and "- id: baclofen-mechanism-2\n" in text
    assert "subdeck: Muscle relaxants\n" in text
    assert "    Back: GABA-B agonist<br>at the&nbsp;spinal cord\n" in text
    assert "tags: ['pharm::gaba', spasticity]" in text
    assert "{{c1::Intrathecal}} baclofen via a {{c2::pump::device}}" in text
    assert "Notes: Oral <or> intrathecal" not in text  # would render as a tag: kept as HTML
    physiology = (out / "physiology.yaml").read_text(encoding="utf-8")
    assert "  name: Physiology\ninclude:\n- anki-notetypes.yaml\nnotes:\n" in physiology
    assert "- id: stretch-receptor\n" in physiology  # from the sort field, Mechanism
    shared = (out / "anki-notetypes.yaml").read_text(encoding="utf-8")
    assert "\nid: anki-notetypes\nnotetypes:\n  drug-profile:\n    name: Drug profile\n" in shared
    assert "    sort-field: Mechanism\n" in shared


def test_the_locks_an_import_writes_are_the_ones_a_build_writes(original, run, tmp_path):
    _, package = original
    out = tmp_path / "decks"
    import_cli(run, package, out)
    locks = {p.name: p.read_text() for p in out.glob("*.lock")}
    assert "guid " in locks["pharmacology.lock"]  # every imported note has a GUID of its own
    locked = run("build", out, "--locked", "-o", tmp_path / "rebuilt.apkg")
    assert locked.exit_code == 0, locked.output
    assert {p.name: p.read_text() for p in out.glob("*.lock")} == locks


# --- other packages ------------------------------------------------------------------------------


def test_a_collection_package_imports_like_an_apkg(anki, run, tmp_path):
    col = anki()
    c = make_collection(col)
    apkg = export(c, tmp_path / "deck.apkg", legacy=False)
    colpkg = tmp_path / "all.colpkg"
    c.export_collection_package(str(colpkg), include_media=True, legacy=False)
    c.reopen()
    import_cli(run, apkg, tmp_path / "from-apkg")
    import_cli(run, colpkg, tmp_path / "from-colpkg")
    for name in (
        "pharmacology.yaml",
        "pharmacology.lock",
        "physiology.yaml",
        "anki-notetypes.yaml",
        "pharmacology-media/heart.png",
    ):
        a, b = (tmp_path / "from-colpkg" / name).read_bytes(), (tmp_path / "from-apkg" / name).read_bytes()
        if name.endswith(".yaml"):  # the first line names the package it came from
            assert a.startswith(b"# Imported from all.colpkg ") and b.startswith(
                b"# Imported from deck.apkg "
            )
            a, b = a.split(b"\n", 1)[1], b.split(b"\n", 1)[1]
        assert a == b


def test_a_package_made_by_genanki_rebuilds_exactly(run, tmp_path, anki):
    import genanki

    model = genanki.Model(
        1607392319,
        "Simple Model",
        fields=[{"name": "Question"}, {"name": "Answer"}],
        templates=[
            {"name": "Card 1", "qfmt": "{{Question}}", "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}"}
        ],
    )
    deck = genanki.Deck(2059400110, "Country Capitals::Europe")
    for question, answer in (("Capital of <i>France</i>?", "Paris"), ("Capital of Spain?", "Madrid<br>")):
        deck.add_note(genanki.Note(model=model, fields=[question, answer], tags=["geo"]))
    package = tmp_path / "genanki.apkg"
    genanki.Package(deck).write_to_file(package)
    col = anki()
    col.import_package(package)
    before = notes_of(col)

    import_cli(run, package, tmp_path / "decks")
    text = (tmp_path / "decks" / "country-capitals.yaml").read_text(encoding="utf-8")
    assert "subdeck: Europe" in text and "id: 1607392319" in text
    assert "- id: capital-of-france\n" in text and "- id: capital-of-spain\n" in text
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    log = col.import_package(tmp_path / "rebuilt.apkg")
    assert len(log.new) == 0 and len(log.updated) == 0
    assert notes_of(col) == before
    fresh = anki()
    fresh.import_package(tmp_path / "rebuilt.apkg")
    assert notes_of(fresh) == before
    assert definitions_of(fresh) == definitions_of(col)


def test_image_occlusion_notes_are_imported_with_their_fields_verbatim(anki, run, tmp_path):
    col = anki()
    c = col.col
    c.media.write_data("scan.png", PNG)
    io = c.models.by_name("Image Occlusion")
    note = c.new_note(io)
    note["Occlusion"] = "{{c1::image-occlusion:rect:left=.1:top=.2:width=.3:height=.4:oi=1}}"
    note["Image"] = '<img src="scan.png">'
    note["Header"] = "Knee"
    c.add_note(note, c.decks.id("Anatomy"))
    package = export(c, tmp_path / "io.apkg", legacy=False)
    before = notes_of(col)
    result = import_cli(run, package, tmp_path / "decks")
    assert "note type 'Image Occlusion' is Anki's Image Occlusion" in result.stdout
    text = (tmp_path / "decks" / "anatomy.yaml").read_text(encoding="utf-8")
    assert "{name: Occlusion, format: html}" in text or "name: Occlusion\n      format: html" in text
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    fresh = anki()
    fresh.import_package(tmp_path / "rebuilt.apkg")
    assert [fields for _, fields, _ in notes_of(fresh).values()] == [f for _, f, _ in before.values()]
    assert (Path(fresh.col.media.dir()) / "scan.png").read_bytes() == PNG


# --- what import refuses ---------------------------------------------------------------------------


def small_collection(anki):
    col = anki()
    c = col.col
    note = c.new_note(c.models.by_name("Basic"))
    note["Front"], note["Back"] = "Question", "Answer"
    c.add_note(note, c.decks.id("Small"))
    return c


@pytest.fixture
def small_package(anki, tmp_path):
    return export(small_collection(anki), tmp_path / "small.apkg", legacy=False)


def test_dry_run_prints_the_summary_and_writes_nothing(small_package, run, tmp_path):
    result = run("import", small_package, "-o", tmp_path / "decks", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"would import {small_package}:\n")
    assert f"  {tmp_path / 'decks' / 'small.yaml'}: deck 'Small', 1 note, 1 note type" in result.stdout
    assert "note types: Basic (1 note)" in result.stdout
    assert not (tmp_path / "decks").exists()


def test_import_never_overwrites_and_writes_nothing_when_one_output_exists(small_package, run, tmp_path):
    out = tmp_path / "decks"
    out.mkdir()
    (out / "small.lock").write_text("mine\n")
    result = run("import", small_package, "-o", out)
    assert result.exit_code == 1
    assert f"{out / 'small.lock'}: error: already exists; factdeck import never overwrites" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["small.lock"]
    assert (out / "small.lock").read_text() == "mine\n"


PAUSED_IMPORT = """\
import sys, time
import factdeck.deckimport as d
def paused(result, stage):
    print('staging', flush=True)
    time.sleep(120)
d._stage_and_prove = paused
sys.argv = ['factdeck', 'import', *sys.argv[1:]]
from factdeck.cli import main
main()
"""


def _paused_import(package, out, env):
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_IMPORT, str(package), "-o", str(out)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout.readline().strip() == "staging"  # its working folders exist now
    return proc


def _working_folders(*folders):
    return {p for folder in folders for p in folder.iterdir() if "factdeck-" in p.name}


def test_a_killed_imports_working_folders_are_removed_by_the_next_run_and_a_live_ones_kept(
    small_package, tmp_path
):
    tmp, out = tmp_path / "tmp", tmp_path / "decks"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    killed = _paused_import(small_package, out, env)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    stale = _working_folders(out, tmp)
    assert {p.parent for p in stale} == {out, tmp}  # the staged deck files, the unpacked package
    live = _paused_import(small_package, out, env)
    try:
        running = _working_folders(out, tmp) - stale
        assert {p.parent for p in running} == {out, tmp}
        done = subprocess.run(
            [sys.executable, "-m", "factdeck", "import", str(small_package), "-o", str(out)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert _working_folders(out, tmp) == running  # the dead run's gone, the live run's kept
        assert (out / "small.yaml").is_file()
        dry = subprocess.run(
            [
                sys.executable,
                "-m",
                "factdeck",
                "import",
                str(small_package),
                "-o",
                str(tmp_path / "x"),
                "--dry-run",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert dry.returncode == 0, dry.stderr
        assert _working_folders(out, tmp) == running
    finally:
        live.kill()
        live.wait()
        live.stdout.close()


def test_import_without_the_anki_library_says_how_to_install_it(small_package, run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anki", None)
    monkeypatch.setitem(sys.modules, "anki.collection", None)
    result = run("import", small_package, "-o", tmp_path / "decks")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{small_package}: error: ")
    assert "pip install 'factdeck[anki]'" in result.stderr
    assert not (tmp_path / "decks").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip", "not an Anki package (not a zip file)"),
        ("no collection", "not an Anki package: it holds no collection.anki2"),
        ("garbage", "Anki could not read the package"),
        ("missing", "no such file"),
    ],
)
def test_an_unreadable_package_is_one_error(run, tmp_path, content, message):
    bad = tmp_path / "bad.apkg"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content != "missing":
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("media", "{}")
            if content == "garbage":
                zf.writestr("collection.anki2", b"SQLite format 3\0" + b"\xff" * 300)
    result = run("import", bad, "-o", tmp_path / "decks")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{bad}: error: ") and message in result.stderr
    assert not (tmp_path / "decks").exists()


def test_import_needs_a_package_file_name(run, tmp_path):
    result = run("import", tmp_path / "deck.yaml")
    assert result.exit_code == 2
    assert "give an Anki package: a .apkg or .colpkg file" in result.stderr


def test_odd_media_names_in_a_legacy_media_map_never_leave_the_output_folder(anki, run, tmp_path):
    with zipfile.ZipFile(export(small_collection(anki), tmp_path / "small.apkg", legacy=True)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    legacy = tmp_path / "legacy.apkg"
    with zipfile.ZipFile(legacy, "w") as zf:
        for name, data in members.items():
            if name not in ("media", "0"):
                zf.writestr(name, data)
        zf.writestr("media", '{"0": "../../escaped.png", "1": "ok.png"}')
        zf.writestr("0", PNG)
        zf.writestr("1", PNG)
    result = run("import", legacy, "-o", tmp_path / "decks")
    assert "internal error" not in result.output
    assert not (tmp_path / "escaped.png").exists() and not (tmp_path.parent / "escaped.png").exists()
    shutil.rmtree(tmp_path / "decks", ignore_errors=True)


def test_notes_factdeck_cannot_build_are_left_out_and_named(anki, run, tmp_path):
    col = anki()
    c = col.col
    deck = c.decks.id("Odd")
    for type_name, fields in (
        ("Basic", {"Front": "Kept", "Back": "fine"}),
        ("Cloze", {"Text": "a cloze note without any cloze"}),
        ("Basic", {"Front": "", "Back": "a blank front"}),
    ):
        note = c.new_note(c.models.by_name(type_name))
        for key, value in fields.items():
            note[key] = value
        c.add_note(note, deck)
    package = export(c, tmp_path / "odd.apkg", legacy=False)
    result = import_cli(run, package, tmp_path / "decks")
    assert (
        "warning: left out note a-cloze-note-without-any-cloze of odd.yaml, which factdeck cannot build"
        in (result.stdout)
    )
    assert "warning: left out note a-blank-front of odd.yaml" in result.stdout  # id from its Back
    assert "note types: Basic (1 note)" in result.stdout
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    assert [n.id for n in built.reports[0].deck.notes] == ["kept"]


# --- hostile packages: a real legacy export, its collection then tampered with ------------------


def tampered(anki, tmp_path, sql, params=()):
    """A legacy package from Anki, with ``sql`` run on its collection (collection.anki21)."""
    import sqlite3

    source = export(small_collection(anki), tmp_path / "small-legacy.apkg", legacy=True)
    with zipfile.ZipFile(source) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    db_path = tmp_path / "col.db"
    db_path.write_bytes(members["collection.anki21"])
    db = sqlite3.connect(db_path)
    db.execute(sql, params)
    db.commit()
    db.close()
    members["collection.anki21"] = db_path.read_bytes()
    bad = tmp_path / "tampered.apkg"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return bad


@pytest.mark.parametrize(
    "sql, params, message",
    [
        ("UPDATE col SET models = ?", ("[" * 100_000 + "]" * 100_000,), "recursion limit exceeded"),
        ("UPDATE col SET decks = ?", ('{"a":' * 50_000 + "1" + "}" * 50_000,), "decoding decks"),
        ("UPDATE col SET models = ?", ('{"1": {"name": 5, "flds": "x", "tmpls": {}}}',), "decoding models"),
        ("UPDATE col SET models = ?", ("not json",), "decoding models"),
        ("UPDATE notes SET flds = ?", ("\x1f".join(["x"] * 100_000),), "note has 100000 fields, expected 2"),
        ("UPDATE notes SET mid = ?", (123,), "No such notetype"),
        ("UPDATE notes SET guid = ?", ("",), "1 notes have GUIDs factdeck cannot keep"),
        ("DELETE FROM col", (), "Anki could not read the package"),
        ("DROP TABLE cards", (), "no such table: main.cards"),
    ],
)
def test_a_tampered_collection_is_one_error_and_writes_nothing(anki, run, tmp_path, sql, params, message):
    bad = tampered(anki, tmp_path, sql, params)
    result = run("import", bad, "-o", tmp_path / "decks")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{bad}: error: ") and message in result.stderr
    assert result.stderr.endswith("\n1 error\n")
    assert not (tmp_path / "decks").exists()


def test_text_from_a_package_is_escaped_in_the_summary(anki, run, tmp_path):
    name = '"Sm\\u001b[2J\\u202eall\\u0085"'  # JSON escapes: Anki reads ESC, RLO and NEL
    bad = tampered(anki, tmp_path, "UPDATE col SET decks = replace(decks, '\"Small\"', ?)", (name,))
    result = run("import", bad, "-o", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output and "\x1b" not in result.output and "\x85" not in result.output
    assert "deck 'Sm[2J\\u202eall', 1 note" in result.stdout  # Anki itself drops the ESC and the NEL


def test_a_failed_import_leaves_no_folder_behind(anki, run, tmp_path):
    name = '"Ba\\u001bsic"'
    bad = tampered(anki, tmp_path, "UPDATE col SET models = replace(models, '\"Basic\"', ?)", (name,))
    result = run("import", bad, "-o", tmp_path / "new" / "decks")
    assert result.exit_code == 1
    assert "contains control character U+001B" in result.stderr
    assert "nothing was written" in result.stderr
    assert not (tmp_path / "new").exists()


def test_a_package_factdeck_built_is_refused_with_what_to_do_instead(write_deck, run, tmp_path):
    from conftest import SIMPLE_DECK

    deck = write_deck(SIMPLE_DECK)
    built = build([str(deck)], output=tmp_path / "demo.apkg", now=T0)
    assert not built.errors
    result = run("import", tmp_path / "demo.apkg", "-o", tmp_path / "decks")
    assert result.exit_code == 1
    assert "this package was built by factdeck (note types 'factdeck Basic'" in result.stderr
    assert "`factdeck diff`" in result.stderr
    assert not (tmp_path / "decks").exists()


def test_diff_names_the_notes_of_an_ankis_package_by_their_sort_field(original, run, tmp_path):
    _, package = original
    out = tmp_path / "decks"
    import_cli(run, package, out)
    deck = out / "pharmacology.yaml"
    text = deck.read_text(encoding="utf-8")
    start = text.index("- id: tizanidine-class\n")
    end = text.index("- id: ", start + 5)
    deck.write_text(text[:start] + text[end:], encoding="utf-8")  # one note removed from the YAML
    result = run("diff", package, out)
    assert result.exit_code == 0, result.output
    assert "pharmacology: Pharmacology\n- Tizanidine class (guid " in result.stdout
    assert "0 added, 0 changed, 1 removed" in result.stdout
    assert "physiology: Physiology\n0 added, 0 changed, 0 removed" in result.stdout


def test_deck_descriptions_and_notes_with_cards_in_two_decks(anki, run, tmp_path):
    col = anki()
    c = col.col
    top = c.decks.id("Described")
    deck = c.decks.get(top)
    deck["desc"] = "Spasticity drugs, <b>oral</b> and intrathecal"
    c.decks.save(deck)
    other = c.decks.id("Elsewhere")
    deck = c.decks.get(other)
    deck["desc"] = '<div style="color: red" onclick="x()">no Markdown form</div>'
    c.decks.save(deck)
    note = c.new_note(c.models.by_name("Basic (and reversed card)"))
    note["Front"], note["Back"] = "Front", "Back"
    c.add_note(note, top)
    second = note.cards()[1]
    second.did = other
    c.update_card(second)
    lone = c.new_note(c.models.by_name("Basic"))
    lone["Front"], lone["Back"] = "Q", "A"
    c.add_note(lone, other)
    package = export(c, tmp_path / "two.apkg", legacy=False)
    result = import_cli(run, package, tmp_path / "decks")
    assert "description: Spasticity drugs, <b>oral</b> and intrathecal\n" in (
        tmp_path / "decks" / "described.yaml"
    ).read_text(encoding="utf-8")
    assert "left out: the description of deck 'Elsewhere', which has no exact Markdown form" in result.stdout
    assert "warning: 1 notes have cards in more than one deck" in result.stdout
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, built.diagnostics
    log = col.import_package(tmp_path / "rebuilt.apkg")
    assert len(log.new) == 0 and len(log.updated) == 0
    assert c.decks.name(c.get_card(second.id).did) == "Elsewhere"  # existing cards stay put


def test_working_folders_older_versions_left_are_removed_once_a_day_old(
    small_package, run, tmp_path, monkeypatch
):
    """Versions before the locked working folders used tempfile's names and held no lock."""
    tmp, out = tmp_path / "tmp", tmp_path / "decks"
    tmp.mkdir()
    out.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    old, recent = out / ".factdeck-import-ab_c12x9", out / ".factdeck-import-zz9y8x7w"
    unpacked, other = tmp / "factdeck-read-k2j3h4g5", tmp / "factdeck-readme-1"
    for folder in (old, recent, unpacked, other):
        (folder / "inside").mkdir(parents=True)
        (folder / "inside" / "deck.yaml").write_text("x")
    day_ago = time.time() - 25 * 3600
    for folder in (old, unpacked, other):
        os.utime(folder, (day_ago, day_ago))
    assert run("import", small_package, "-o", out).exit_code == 0
    assert not old.exists() and not unpacked.exists()
    assert recent.exists() and other.exists()  # maybe an older version's live import; not ours


KILLED_BETWEEN_RENAMES = """\
import os, signal, sys
import factdeck.deckimport as d
real = os.link
def link(src, dst):
    real(src, dst)
    os.kill(os.getpid(), signal.SIGKILL)  # after the first output is in place, before the others
d.os.link = link
sys.argv = ['factdeck', 'import', *sys.argv[1:]]
from factdeck.cli import main
main()
"""


def test_an_import_killed_between_its_renames_is_taken_back_by_the_next_run(small_package, tmp_path):
    out, tmp = tmp_path / "decks", tmp_path / "tmp"
    tmp.mkdir()
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    env = {**os.environ, "TMPDIR": str(tmp)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(small_package), "-o", str(out)], env=env
    )
    assert killed.returncode == -signal.SIGKILL
    assert (out / "small.yaml").is_file() and not (out / "small.lock").exists()  # half an import
    again = subprocess.run(
        [sys.executable, "-m", "factdeck", "import", str(small_package), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "small.lock", "small.yaml"]
    assert (out / "mine.txt").read_text() == "mine"


def test_a_planted_rollback_list_removes_nothing_but_what_it_moved(tmp_path):
    from factdeck.output import recover

    (tmp_path / "deck.yaml").write_text("mine")
    st = (tmp_path / "deck.yaml").stat()
    dead = tmp_path / ".factdeck-import-1-0123456789ab-1"
    dead.mkdir()
    (dead / "rollback.json").write_text(
        json.dumps([["deck.yaml", st.st_dev, st.st_ino + 1], ["../x", 0, 0], ["/etc/passwd", 0, 0]])
    )
    recover([tmp_path])
    assert not dead.exists() and (tmp_path / "deck.yaml").read_text() == "mine"
