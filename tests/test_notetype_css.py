"""Note-type CSS a browser would read otherwise than it looks is a located error; what
`factdeck import` takes from a package is kept as it is and builds with a warning."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factdeck import css
from factdeck.build import build, check

T0 = 1_700_000_000


def _deck(css_lines: str) -> str:
    body = textwrap.indent(textwrap.dedent(css_lines), " " * 6)
    return (
        "deck:\n  id: c\n  name: C\nnotetypes:\n  drug:\n    fields: [Drug, Notes]\n"
        '    templates:\n      - front: "{{Drug}}"\n        back: "{{Notes}}"\n'
        f"    css: |\n{body}"
        "notes:\n  - id: n\n    type: drug\n    fields: {Drug: a, Notes: b}\n"
    )


def _errors(tmp_path, text: str) -> list[str]:
    path = tmp_path / "deck.yaml"
    path.write_text(text, encoding="utf-8")
    return [d.format().removeprefix(f"{path}:") for d in check([str(path)]).diagnostics]


@pytest.mark.parametrize(
    ("css_text", "expected"),
    [
        (
            ".card { color: red; }}\n.b { color: blue; }\n",
            [
                "11:28: error: `css` of note type `drug`: this `}` closes no `{`: browsers take it into the "
                "next rule's selector and drop that rule"
            ],
        ),
        (
            ".card { color: red;\n.b { color: blue; }\n",
            [
                "11:13: error: `css` of note type `drug`: this `{` is never closed: the rules after it, "
                "if any, become part of its block"
            ],
        ),
        (
            ".card { color: red; }\n/* old:\n.b { color: blue; }\n",
            [
                "12:7: error: `css` of note type `drug`: this comment is never closed: browsers ignore the "
                "rest of the CSS"
            ],
        ),
        (
            '.card { color: red; }\n.b::after { content: "x; }\n.c { color: blue; }\n',
            [
                "12:17: error: `css` of note type `drug`: this `{` is never closed: the rules after it, "
                "if any, become part of its block",
                "12:28: error: `css` of note type `drug`: this string is not closed on its line: browsers "
                "drop its declaration",
            ],
        ),
    ],
    ids=["stray close", "never closed", "comment", "string"],
)
def test_each_css_slip_is_an_error_at_its_line_and_column_in_the_block(tmp_path, css_text, expected):
    assert _errors(tmp_path, _deck(css_text)) == expected


def test_braces_in_strings_comments_urls_and_escapes_are_not_braces(tmp_path):
    text = _deck(
        """\
        .card::before { content: "}{"; }
        .a::after { content: '\\'}'; }  /* { not a brace } */
        .b { background: url(data:image/svg+xml;utf8,<svg>{</svg>); }
        .c\\{ { color: red; }
        .d { content: "a\\
        }"; }
        """
    )
    assert _errors(tmp_path, text) == []


def test_a_css_file_slip_is_located_in_the_css_file(tmp_path):
    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "drug.css").write_text(".card {\n  color: red;\n\n.b { color: blue; }\n")
    text = _deck("x {}\n").replace("    css: |\n      x {}\n", "    css-file: styles/drug.css\n")
    assert _errors(tmp_path, text) == [
        f"{tmp_path}/styles/drug.css:1:7: error: `css-file` `styles/drug.css` of note type `drug`: "
        "this `{` is never closed: the rules after it, if any, become part of its block"
    ]


def test_css_marked_as_imported_builds_with_one_warning(tmp_path):
    text = _deck(f"{css.UNCHECKED}\n.card {{ color: red; }}}}\n.b {{ x }}\n")
    (warning,) = _errors(tmp_path, text)
    assert warning.startswith("10:10: warning: `css` of note type `drug` starts with `/* factdeck: unchecked")
    assert "with 1 slip a browser reads otherwise than it looks; the first, at line 2 of the CSS:" in warning


# --- generated CSS ---------------------------------------------------------------------------------

_words = st.sampled_from(["a", ".card", "#x", "b > i", "p:hover", "*", "@media (x)", "li + li"])
_text = st.text(alphabet="ab{}()/*;:", max_size=8)


@st.composite
def _string(draw) -> str:
    quote = draw(st.sampled_from("\"'"))
    inner = draw(st.text(alphabet="ab {}/*;:\"'", max_size=8)).replace("\\", "").replace(quote, "\\" + quote)
    return quote + inner + quote


@st.composite
def _comment(draw) -> str:
    return "/*" + draw(st.text(alphabet="ab {}\"'/;", max_size=8)).replace("*/", "") + "*/"


_value = st.one_of(
    st.sampled_from(["red", "1px solid", "0"]),
    _string(),
    _text.map(lambda t: "url(" + t.replace(")", "").replace("(", "").replace("\\", "") + ")"),
    st.just("\\{"),
)


@st.composite
def _rule(draw, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["decl", "comment", "rule"] if depth < 2 else ["decl", "comment"]))
        if kind == "decl":
            parts.append(f"color: {draw(_value)};")
        elif kind == "comment":
            parts.append(draw(_comment()))
        else:
            parts.append(draw(_rule(depth + 1)))
    return f"{draw(_words)} {{ {' '.join(parts)} }}"


_sheet = st.lists(st.one_of(_rule(), _comment()), max_size=5).map("\n".join)


@settings(max_examples=120, deadline=None)
@given(sheet=_sheet)
def test_generated_css_with_braces_only_in_rules_strings_comments_and_urls_has_no_slip(sheet):
    assert css.problems(sheet) == []


@settings(max_examples=120, deadline=None)
@given(sheet=_sheet, data=st.data())
def test_a_brace_or_comment_opener_added_between_rules_is_found_where_it_is(sheet, data):
    rules = sheet.split("\n") if sheet else []
    at = data.draw(st.integers(0, len(rules)))
    slip = data.draw(st.sampled_from(["}", "{", "/*"]))
    if slip == "/*":
        at = len(rules)  # a later comment would close it
    before = "\n".join(rules[:at]) + ("\n" if at else "")
    text = before + slip + ("\n" + "\n".join(rules[at:]) if rules[at:] else "")
    assert [p.offset for p in css.problems(text)] == [len(before)]


@settings(max_examples=100, deadline=None)
@given(sheet=_sheet, data=st.data())
def test_a_brace_dropped_from_a_rule_is_found(sheet, data):
    braces = [i for i, c in enumerate(sheet) if c in "{}" and css.problems(sheet[:i] + "x" + sheet[i + 1 :])]
    if braces:
        i = data.draw(st.sampled_from(braces))
        assert css.problems(sheet[:i] + sheet[i + 1 :])


# --- import --------------------------------------------------------------------------------------


def test_importing_a_package_whose_css_has_a_slip_keeps_it_and_the_deck_builds(tmp_path, anki, run):
    from anki.collection import ExportAnkiPackageOptions

    c = anki().col
    broken = ".card { color: red; }}\n.b { color: blue;\n"
    model = c.models.by_name("Basic")
    model["css"] = broken
    c.models.update_dict(model)
    note = c.new_note(model)
    note["Front"], note["Back"] = "q", "a"
    c.add_note(note, c.decks.id("Styled"))
    package = tmp_path / "styled.apkg"
    c.export_anki_package(out_path=str(package), options=ExportAnkiPackageOptions(), limit=None)
    result = run("import", package, "-o", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    assert "the CSS of note type 'Basic' has 2 slips a browser reads otherwise than it looks (line 1:" in (
        result.output
    )
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors
    assert [d.code for d in built.diagnostics] == ["notetype-css"]
    col = anki()
    col.import_package(tmp_path / "rebuilt.apkg")
    assert col.col.models.get(model["id"])["css"] == f"{css.UNCHECKED}\n{broken}"


# --- the preview ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "inside", "document"),
    [
        ("html, body { margin: 0 }", ":host, .card { margin: 0 }", ""),
        (":root { --ink: #222 }", ":host { --ink: #222 }", ""),
        ("body.nightMode .hint { color: white }", ".card.nightMode .hint { color: white }", ""),
        ("html > body .x { }", ":host > .card .x { }", ""),
        (
            "@media (max-width: 600px) { body { font-size: 12px } }",
            "@media (max-width: 600px) { .card { font-size: 12px } }",
            "",
        ),
        ('/* body */ .a[title="body"], .bodyish, #html, tbody { content: "html" }', None, ""),
        ("@keyframes body { from { } to { } }", None, ""),
        # words in attribute selectors are values, an escaped character continues a name, and a
        # namespaced element is not rewritten into an invalid selector that drops its whole list
        ("[lang=html] .a, [data-x = body i], [html|x] { }", None, ""),
        ("html[dir=rtl] body[data-side=html] { }", ":host([dir=rtl]) .card[data-side=html] { }", ""),
        ("body\\:x, html\\2d y { }", None, ""),
        ("*|body, svg|html, .x { }", None, ""),
        (
            '@import url("_base.css");\n@font-face { font-family: F; src: url(_f.woff2) }\n.card { font-family: F }',
            "\n.card { font-family: F }",
            '@import url("_base.css");\n@font-face { font-family: F; src: url(_f.woff2) }',
        ),
    ],
)
def test_the_preview_applies_root_and_body_rules_in_its_shadow_roots_and_hoists_fonts(
    given, inside, document
):
    assert css.for_shadow_root(given) == (given if inside is None else inside, document)


def test_rules_nested_thousands_of_groups_deep_are_rewritten_in_one_pass():
    """The checker accepts any depth of balanced `@media`; the preview read each depth again,
    recursing past Python's limit (a traceback) and quadratic in the depth."""
    depth = 5_000
    given = "@media screen {" * depth + " body { a: b } " + "}" * depth
    assert css.problems(given) == []
    inside, document = css.for_shadow_root(given)
    assert inside == given.replace(" body ", " .card ") and document == ""


def test_the_preview_page_holds_the_rewritten_css_and_the_hoisted_fonts(tmp_path):
    from factdeck import preview

    (tmp_path / "f.woff2").write_bytes(b"wOF2")
    text = _deck('@font-face { font-family: F; src: url("f.woff2") }\nbody { font-family: F }\n')
    path = tmp_path / "deck.yaml"
    path.write_text(text, encoding="utf-8")
    result = check([str(path)])
    assert not result.errors
    data = preview.site_data(result.decks)
    (font,) = [name for name in result.decks[0].media if name.endswith(".woff2")]
    assert data["css"] == ["\n.card { font-family: F }\n"]
    assert data["document_css"] == f'@font-face {{ font-family: F; src: url("{font}") }}'
    page = preview.page(result.decks)
    assert f'<style id="fd-preview-note-type-fonts">{data["document_css"]}</style>' in page
    assert "font-src 'self' data:;" in preview.content_security_policy("")  # the hoisted fonts load


def test_css_with_a_slip_on_every_line_is_located_in_one_reading(tmp_path):
    """Each of 10,000 slips located from the start of the CSS took minutes; now one reading."""
    lines = 10_000
    (tmp_path / "drug.css").write_text("}\n" * lines, encoding="utf-8")
    inline = _deck("}\n" * lines)
    in_file = inline.replace("    css: |\n" + "      }\n" * lines, "    css-file: drug.css\n")
    shown = f"{tmp_path}/drug.css:"
    for text, first, last in [
        (inline, "11:7:", f"{10 + lines}:7:"),
        (in_file, f"{shown}1:1:", f"{shown}{lines}:1:"),
    ]:
        found = _errors(tmp_path, text)
        assert len(found) == lines
        assert found[0].startswith(first) and found[-1].startswith(last) and "closes no `{`" in found[-1]
