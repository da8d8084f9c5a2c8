"""Work stays linear in the input, whatever a hostile deck holds.

No test here measures time: each counts the work done (characters scanned, comparisons made,
parser calls) or runs an input that a quadratic algorithm would need minutes for.
"""

from __future__ import annotations

import difflib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factdeck import cardhtml, cloze, diagnostics, render
from factdeck.build import check
from factdeck.render import Renderer, math_spans

# The regular expressions the linear scanners replace: what they match is the specification.
LAZY_MATH = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.S)
ANKI_MATHJAX = re.compile(r"(\\[(\[])(.*?)(\\[\])])", re.S)
ANKI_TAGS = re.compile(r"<!--.*?-->|<.*?>", re.S)
# Anki's strip_html (the `text:` filter), case-insensitive as Rust's regex is: by simple case
# folding, so `ſ` is an `s` but `ı` and `İ` are no `i` (Python's re.I would take both)
ANKI_STRIP_HTML = re.compile(
    r"<!--.*?-->|<[sSſ][tT][yY][lL][eE].*?>.*?</[sSſ][tT][yY][lL][eE]>"
    r"|<[sSſ][cC][rR][iI][pP][tT].*?>.*?</[sSſ][cC][rR][iI][pP][tT]>|<.*?>",
    re.S,
)

mathy = st.lists(
    st.sampled_from(["\\", "(", ")", "[", "]", "a", "<", ">", "!", "-", "<!--", "-->", "\\(", "\\)", "\\["]),
    max_size=40,
).map("".join)


class CountingText(str):
    """A string that adds up how many characters its ``find`` calls scan."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        found = super().find(sub, start, end)
        CountingText.scanned += (len(self) if found == -1 else found + len(sub)) - start
        return found


@settings(max_examples=2000, deadline=None)
@given(mathy)
def test_math_scanners_find_what_the_lazy_regexes_find(text):
    assert math_spans(text) == [m.span() for m in LAZY_MATH.finditer(text)]
    assert cardhtml._strip_tags(text) == ANKI_TAGS.sub("", text)
    expected = ANKI_MATHJAX.sub(lambda m: m.group(1) + ANKI_TAGS.sub("", m.group(2)) + m.group(3), text)
    assert cardhtml._strip_tags_in_mathjax(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "\\(" * 50_000,
        "x \\[" * 30_000 + "\\)",
        "\\(a\\)" * 10_000 + "\\(" * 20_000 + "\\]",
        "\\[" * 20_000 + "\\(" * 20_000 + "\\)",
    ],
)
def test_math_is_found_in_one_pass_over_the_text(text):
    CountingText.scanned = 0
    math_spans(CountingText(text))
    assert CountingText.scanned <= 2 * len(text) + 10


@pytest.mark.parametrize(
    "text", ["\\(" + "<" * 200_000, "\\(" * 100_000, "\\(" + "<!--" * 50_000 + ">", "<a " * 70_000]
)
def test_preview_strips_tags_in_math_without_rescanning(text):
    CountingText.scanned = 0
    cardhtml._strip_tags(CountingText(text))
    assert CountingText.scanned <= 3 * len(text) + 10
    # a lazy regex would rescan the rest of these 200 KB from every opener: minutes
    assert cardhtml.reveal_clozes("{{c1::x}}" + text, 1, question=False).endswith(text)


tagged = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "</",
            "<!--",
            "-->",
            "<style",
            "<STYLE ",
            "<ſtyle",
            "</style>",
            "</Style>",
            "</ſtyle>",
            "<script>",
            "</script>",
            "<scrıpt>",
            "</scrİpt>",
            "x",
            " ",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(tagged)
def test_text_filter_strips_what_anki_s_regex_strips(text):
    assert cardhtml._strip_tags(text, elements=True) == ANKI_STRIP_HTML.sub("", text)


UNENDED_TAGS = {
    "unclosed <": ("<" * 200_000, "<" * 200_000),
    "style without end tag": ("<style>" * 30_000, ""),
    "script opener to the last >": ("<script " * 30_000 + ">", ""),
    "long s style, no > after": ("<ſtyle>" + "</" * 100_000, "</" * 100_000),
    "unclosed comments": ("<!--" * 50_000 + "x>", ""),
    "style closed by script": ("<style>a</script>" * 20_000, "a" * 20_000),
    "near-miss end tags": ("<script>" + "</scrip>" * 30_000 + "</script>b", "b"),
}


@pytest.mark.parametrize(("text", "stripped"), UNENDED_TAGS.values(), ids=UNENDED_TAGS.keys())
def test_text_filter_strips_tags_in_one_pass(text, stripped):
    CountingText.scanned = 0
    assert cardhtml._strip_tags(CountingText(text), elements=True) == stripped
    assert CountingText.scanned <= 4 * len(text) + 10
    # Anki's lazy regex, run by Python's backtracking engine, takes minutes on each of these
    assert cardhtml._filter("text", text, None) == stripped  # type: ignore[arg-type]


def test_field_full_of_unclosed_math_renders(tmp_path):
    html, problems = Renderer(str(tmp_path)).field("\\(" * 100_000)
    assert problems == () and html.count("(") == 100_000


def _deck(notes: str, head: str = "") -> str:
    return f"deck:\n  id: d\n  name: D\n{head}notes:\n{notes}"


def test_did_you_mean_work_is_bounded_however_many_keys_are_wrong(tmp_path, monkeypatch):
    n = 3_000
    sources = "".join(f"  src-{i:05d}-abc:\n    title: T\n" for i in range(n))
    notes = "".join(
        f"  - id: n{i}\n    front: q\n    back: a\n    sources: [srcx-{i:05d}-abd]\n" for i in range(n)
    )
    path = tmp_path / "deck.yaml"
    path.write_text(_deck(notes, head="sources:\n" + sources))
    compared = []
    real = difflib.SequenceMatcher.set_seq1
    monkeypatch.setattr(
        difflib.SequenceMatcher, "set_seq1", lambda self, a: compared.append(a) or real(self, a)
    )
    result = check([str(path)])
    unknown = [d for d in result.diagnostics if d.code == "unknown-source"]
    assert len(unknown) == n
    # the header-first read gives up past the budget, and the one-pass read then spends it again;
    # a search against every source for every key would make 9,000,000 comparisons
    assert len(compared) <= 2 * diagnostics.SUGGESTION_BUDGET + 10
    assert "did you mean `src-00000-abc`" in unknown[0].message
    assert "did you mean" not in unknown[-1].message


def test_did_you_mean_skips_words_too_long_to_compare():
    assert diagnostics.did_you_mean("x" * 1000, ["x" * 999]) == ""
    assert diagnostics.did_you_mean("frnt", ["front", "back"]) == " (did you mean `front`?)"


def test_deeply_nested_clozes_are_scanned_in_one_pass():
    text = "{{c1::" * 100_000 + "x" + "}}" * 100_000  # copying each body: 30 GB of slices
    numbers, problems = cloze.scan(text)
    assert numbers == {1} and problems == []
    assert cloze.card_numbers(text) == {1}
    assert cloze.scan("{{c1:: " + " " * 100_000 + "::hint}}")[1] == ["cloze c1 is empty"]


def test_deeply_nested_html_is_refused_before_the_sanitiser(tmp_path, monkeypatch):
    """html5ever (under nh3) searches the open elements at every block start tag: 80,000 nested
    `<div>`s take minutes there. More tags than any card holds are refused without parsing."""
    import nh3

    calls = []
    real = nh3.clean
    monkeypatch.setattr(nh3, "clean", lambda *a, **k: calls.append(1) or real(*a, **k))
    html, problems = Renderer(str(tmp_path)).field("<div>" * 80_000 + "x")
    assert calls == []
    assert problems == (f"more than {render.MAX_TAGS:,} HTML tags; a card field holds far fewer",)
    assert "<div>" not in html
    Renderer(str(tmp_path)).field("<div>x</div>" * 1000)
    assert calls == [1]


def test_deck_wide_tags_cannot_blow_a_small_file_up_into_a_huge_package(tmp_path):
    tags = ", ".join(f"tag-{i}" for i in range(30_000))
    notes = "".join(f"  - {{id: n{i}, front: q, back: a}}\n" for i in range(2_000))
    path = tmp_path / "deck.yaml"
    path.write_text(_deck(notes, head=f"tags: [{tags}]\n"))
    result = check([str(path)])
    assert [d.code for d in result.errors] == ["too-large"]
    assert sum(len(n.flds) + len(" ".join(n.tags)) for d in result.decks for n in d.notes) < 20_000_000


def test_aliases_of_long_text_are_an_alias_bomb(tmp_path):
    notes = "".join(f"  - {{id: n{i}, front: *b, back: *b}}\n" for i in range(3_000))
    path = tmp_path / "deck.yaml"
    path.write_text('deck: {id: d, name: D, description: &b "' + "y" * 100_000 + '"}\nnotes:\n' + notes)
    result = check([str(path)])
    assert [d.code for d in result.errors] == ["yaml-alias-bomb"]


def test_short_aliases_used_often_are_fine(tmp_path):
    notes = "".join(f"  - {{id: n{i}, front: q, back: a, tags: *t}}\n" for i in range(5_000))
    path = tmp_path / "deck.yaml"
    path.write_text("deck: {id: d, name: D}\ntags: &t [shared, tags]\nnotes:\n" + notes)
    assert check([str(path)]).errors == []


# Anki's regexes (rslib text.rs and template_filters.rs), which Rust runs in linear time
ANKI_SOUND = re.compile(r"\[sound:(.+?)\]", re.S)
ANKI_FURIGANA = re.compile(r" ?([^ >]+?)\[(.+?)\]")

bracketed = st.lists(
    st.sampled_from([" ", ">", "[", "]", "\n", "a", "漢", "[sound:", " [", "] ", "[a]"]), max_size=30
).map("".join)


@settings(max_examples=500, deadline=None)
@given(bracketed)
def test_sound_and_furigana_scanners_find_what_anki_s_regexes_find(text):
    assert render.sound_spans(text) == [m.span() for m in ANKI_SOUND.finditer(text)]
    expected = [(m.start(), m.start(1), m.end(1), m.end()) for m in ANKI_FURIGANA.finditer(text)]
    assert cardhtml.furigana_spans(text) == expected


def _finishes(code: str) -> None:
    """Run ``code`` in a fresh interpreter: a quadratic scan of these inputs takes many minutes,
    so a generous timeout (no timed assertion) tells it from a linear one."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)


@pytest.mark.parametrize("unit", ["[sound:", "[sound:x[", "[sound:\n"])
def test_sound_references_are_found_in_one_pass(unit):
    text = unit * 40_000 + "]"
    CountingText.scanned = 0
    assert render.sound_spans(CountingText(text)) == [(0, len(text))]
    assert CountingText.scanned <= 2 * len(text) + 10
    _finishes(f"from factdeck import render; render.sounds(render.Renderer('.'), {unit!r} * 100_000)")


@pytest.mark.parametrize("unit", ["a[", " a[", "a[b\n", "[ ["])
def test_furigana_is_found_in_one_pass(unit):
    _finishes(f"from factdeck import cardhtml; cardhtml._filter('furigana', {unit!r} * 100_000, None)")


def test_notes_fanning_out_to_huge_numbers_of_cards_hit_the_output_limit(tmp_path):
    templates = "".join(
        f'      - {{name: T{i}, front: "{{{{Q}}}}{i}", back: "{{{{Q}}}}"}}\n' for i in range(100)
    )
    notes = "".join(f"  - {{id: n{i}, type: m, fields: {{Q: q{i}}}}}\n" for i in range(3_000))
    path = tmp_path / "deck.yaml"
    path.write_text(
        "deck: {id: d, name: D}\nnotetypes:\n  m:\n    fields: [Q]\n    templates:\n"
        + templates
        + "notes:\n"
        + notes
    )
    assert len(path.read_text()) < 150_000  # 300,000 cards from it
    result = check([str(path)])
    assert [d.code for d in result.errors] == ["too-large"]
    assert result.errors[0].line > 100  # at the note where the total passed the limit
    assert sum(d.card_count for d in result.decks) < 250_000
