"""Fields are CommonMark rendered to HTML that is safe, with math and cloze markers intact."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factdeck import render as render_module
from factdeck.render import Renderer


@pytest.fixture
def render(tmp_path):
    renderer = Renderer(str(tmp_path))
    return renderer.field


@pytest.mark.parametrize(
    "text,html",
    [
        ("GABA-B receptor", "GABA-B receptor"),
        ("**bold** and *em*", "<strong>bold</strong> and <em>em</em>"),
        ("a < b & c", "a &lt; b &amp; c"),
        ("x<y and z>", "x&lt;y and z&gt;"),
        ("AT&T", "AT&amp;T"),
        (r"\(x^2 < 3\) and \[a_b\]", r"\(x^2 &lt; 3\) and \[a_b\]"),
        ("{{c1::a **b**::hint}}", "{{c1::a <strong>b</strong>::hint}}"),
        ("{{c1::outer {{c2::inner}}}}", "{{c1::outer {{c2::inner}}}}"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("line one\nline two", "line one<br>\nline two"),
        ("<sup>2</sup> and <b>x</b>", "<sup>2</sup> and <b>x</b>"),
        ("~~struck~~ but ~not~ and ~~", "<s>struck</s> but ~not~ and ~~"),
        (
            "| drug | max |\n|:--|--:|\n| baclofen | 80 mg |",
            '<table>\n<thead>\n<tr>\n<th align="left">drug</th>\n<th align="right">max</th>\n</tr>\n'
            '</thead>\n<tbody>\n<tr>\n<td align="left">baclofen</td>\n<td align="right">80 mg</td>\n'
            "</tr>\n</tbody>\n</table>",
        ),
        ("not | a table", "not | a table"),
        (
            "[DailyMed](https://dailymed.nlm.nih.gov/)",
            '<a href="https://dailymed.nlm.nih.gov/" rel="noopener noreferrer">DailyMed</a>',
        ),
    ],
)
def test_markdown_renders_as_commonmark(render, text, html):
    """CommonMark, plus GitHub's pipe tables and ~~strikethrough~~."""
    assert render(text) == (html, ())


def test_table_without_outer_pipes_holds_clozes_and_strikethrough(render):
    out, problems = render("a | b\n--|--\n~~x~~ | {{c1::y}}")
    assert problems == () and out.startswith("<table>")
    assert "<td><s>x</s></td>" in out and "<td>{{c1::y}}</td>" in out


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "hi <script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        '<b onclick="alert(1)">b</b>',
        "<iframe src=https://evil.example></iframe>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<svg onload=alert(1)>",
        "<a href='JaVaScRiPt:alert(1)'>x</a>",
    ],
)
def test_dangerous_html_never_survives_as_live_markup(render, text):
    class Elements(HTMLParser):
        found: ClassVar[list] = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = Elements()
    parser.found = []
    parser.feed(render(text)[0])
    for tag, attrs in parser.found:
        assert tag not in {"script", "iframe", "svg", "object", "embed", "style"}
        assert not any(name.startswith("on") or name == "style" for name in attrs)
        assert not any((value or "").strip().lower().startswith("javascript") for value in attrs.values())


def test_image_outside_the_deck_folder_is_a_problem(render):
    html, problems = render("![x](../secret.png)")
    assert problems == ("image `../secret.png` is outside the deck's folder",)
    assert "secret" not in html


def test_missing_image_is_a_problem(render, tmp_path):
    _, problems = render("![x](images/none.png)")
    assert problems and problems[0].startswith("image `images/none.png` not found")


def test_image_is_renamed_by_content_hash(tmp_path):
    (tmp_path / "a.png").write_bytes(b"same")
    (tmp_path / "b.png").write_bytes(b"same")
    renderer = Renderer(str(tmp_path))
    first, _ = renderer.field("![a](a.png)")
    second, _ = renderer.field("![b](b.png)")
    assert first.split('"')[1] == second.split('"')[1]
    assert list(renderer.media) == [first.split('"')[1]]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.sampled_from(
            [
                *list("ab *_`[]()<>&!#-+.1\\{}:|~=\t"),
                "**",
                "<b>",
                "</b>",
                "](x)",
                "<script>",
                "\\(",
                "\\)",
                "<div>",
            ]
        ),
        max_size=25,
    ).map("".join)
)
def test_single_line_shortcut_renders_exactly_like_full_commonmark(tmp_path, monkeypatch, text):
    """One-line fields skip block parsing; that must never change the HTML."""
    fast = Renderer(str(tmp_path)).field(text)
    with monkeypatch.context() as m:
        m.setattr(render_module, "_one_paragraph", lambda text: False)
        full = Renderer(str(tmp_path)).field(text)
    assert fast == full


@pytest.mark.parametrize(
    "text",
    [
        r'![\(x" onerror="alert(1)\)](https://example.org/a.png)',
        r'[a](https://example.org "\(x\" onclick=\"alert(1)\)")',
        r"<b title='\(x' onclick='alert(1)\)'>b</b>",
        r"\(</span><script>alert(1)</script>\)",
    ],
)
def test_math_never_reopens_html_the_sanitiser_closed(render, text):
    """Math is put back before sanitising, escaped for attributes too: a quote inside math
    cannot end an attribute and start an event handler."""
    html, _ = render(text)

    class Elements(HTMLParser):
        found: ClassVar[list] = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = Elements()
    parser.found = []
    parser.feed(html)
    assert all(not name.startswith("on") for _, attrs in parser.found for name in attrs)
    assert all(tag != "script" for tag, _ in parser.found)


@pytest.mark.parametrize(
    "text", ["\ue0005\ue001 and \\(x\\)", "\ue000 \\(a\\) \ue0010\ue001", "\ue0000\ue001\\(y\\)"]
)
def test_text_that_looks_like_a_math_placeholder_stays_as_written(render, text):
    html, problems = render(text)
    assert problems == ()
    assert html == text  # the private-use characters and the math, unchanged


# --- the fast path for one-line `*emphasis*` and `**strong**` --------------------------------

_PIECES = [*"ab1 *.,;:!?()\"'-/=#é²→«—\u00a0\u0301\u2003\u3000", "{{c1::", "}}", "**", "*a*", "**b**", "***"]


class _FullParser(Renderer):
    """The renderer with the fast path off: what markdown-it and the sanitiser make."""

    def _render(self, text: str) -> tuple[str, tuple[str, ...]]:
        fast, render_module._simple_emphasis = render_module._simple_emphasis, lambda text: None
        try:
            return super()._render(text)
        finally:
            render_module._simple_emphasis = fast


@settings(max_examples=800, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=14))
def test_the_emphasis_fast_path_renders_what_markdown_renders(pieces):
    text = "".join(pieces)
    assert Renderer("/nonexistent")._render(text) == _FullParser("/nonexistent")._render(text), text


def test_the_emphasis_fast_path_takes_the_common_forms_and_leaves_doubtful_ones():
    took = render_module._simple_emphasis
    assert took("Baclofen is a *GABA-B* agonist, **not** a GABA-A one.") == (
        "Baclofen is a <em>GABA-B</em> agonist, <strong>not</strong> a GABA-A one."
    )
    assert took("{{c1::*spinal*}} cord") == "{{c1::<em>spinal</em>}} cord"
    for doubtful in ("a*b*c", "*a **b** c*", "**a*", "* a *", "*a", "***a***", "*a*b*c*"):
        assert took(doubtful) is None, doubtful
