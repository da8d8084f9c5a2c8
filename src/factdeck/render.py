"""Markdown fields to safe HTML, with math and cloze markers intact and images bundled as media.

Two layers keep cards safe: raw HTML whose tag is not on the allow-list is shown escaped (so
``x<y and z>`` reads as typed instead of vanishing), and nh3 then strips anything unsafe that
remains (event handlers, ``javascript:`` URLs). Plain one-line text, by far the most common
field, skips Markdown entirely: its HTML is the text itself.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

    from .model import Source

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "rp",
    "rt",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp"}

_SPECIAL = re.compile(r"[\\`*_\[\]<>&~\n\r\t]")  # `~`: ~~strikethrough~~
_BLOCK_START = re.compile(r"[-+#>=~:|]|\d{1,9}[.)](?:\s|$)")
_MATH_OPEN = re.compile(r"\\[(\[]")
_MATH_CLOSE = {"(": "\\)", "[": "\\]"}
_TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)")
_CONTROL_OR_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_START_TAG = re.compile(r"<[A-Za-z]")
# The HTML parser under nh3 takes time quadratic in how deeply elements nest (each block start
# tag searches the open elements): a field may hold this many tags, far more than a card shows.
MAX_TAGS = 5_000


class Renderer:
    """Renders the fields of one deck file; images resolve against that file's folder.

    A deck may also name a media folder (``deck: media:``, as ``factdeck import`` writes):
    every file in it is bundled under its own name, and a field that uses one by that name
    (``<img src="x.png">``, ``[sound:x.mp3]``, a template's ``_font.woff``) is left as it is,
    so the cards of an imported deck keep working in users' collections.
    """

    def __init__(self, deck_dir: str, media_dir: str | None = None):
        self._deck_dir = deck_dir
        self.root = os.path.realpath(deck_dir)
        self.media: dict[str, str] = {}  # package name -> path on disk
        self.media_problems: list[str] = []  # about the media folder itself
        self.folder_media: set[str] = set()  # names of the files in the media folder
        if media_dir:
            self._add_media_folder(media_dir)
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._problems: list[str] = []
        self._markdown: MarkdownIt | None = None

    @property
    def _md(self) -> MarkdownIt:
        """The Markdown parser, made on first use: most fields never need it."""
        if self._markdown is None:
            from markdown_it import MarkdownIt

            # GitHub's pipe tables and ~~strikethrough~~ too: deck authors write them
            self._markdown = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(
                ["table", "strikethrough"]
            )
            # markdown-it types its rules as bound methods; any callable of that shape works
            rules = cast("dict[str, object]", cast("RendererHTML", self._markdown.renderer).rules)
            rules["html_inline"] = self._html
            rules["html_block"] = self._html
            rules["image"] = self._image
            rules["th_open"] = rules["td_open"] = self._cell
        return self._markdown

    def field(self, text: str) -> tuple[str, tuple[str, ...]]:
        """HTML for one field, plus the problems found (missing images, ...) as messages."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = self._render(text)
        return cached

    def _render(self, text: str) -> tuple[str, tuple[str, ...]]:
        if (
            text
            and not _SPECIAL.search(text)
            and not _BLOCK_START.match(text)
            and not text[0].isspace()
            and not text[-1].isspace()
        ):
            return text, ()  # plain text: Markdown would return it unchanged
        self._problems = []
        source, marks = text, None
        maths: list[str] = []
        if "\\" in text:
            spans = math_spans(text)
            marks = _placeholder_marks(text) if spans else None
            if marks is not None:
                source, maths = _stash(text, spans, marks)
        if _one_paragraph(source):
            out = self._md.renderInline(source)  # same HTML as a lone <p>, without block parsing
        else:
            out = self._md.render(source)
            if out.startswith("<p>") and out.endswith("</p>\n") and out.count("<p>") == 1:
                out = out[3:-5]
        if maths and marks is not None:
            # Put the math back *before* sanitising, escaped for text and attributes alike, so that
            # nh3 has the last word on everything that reaches a card.
            out = re.sub(f"{marks[0]}(\\d+){marks[1]}", lambda m: html.escape(maths[int(m.group(1))]), out)
        if out.count("<") > MAX_TAGS and len(_START_TAG.findall(out)) > MAX_TAGS:
            return html.escape(text), (f"more than {MAX_TAGS:,} HTML tags; a card field holds far fewer",)
        import nh3

        out = nh3.clean(
            out.strip(),
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            attribute_filter=self._attribute,
        )
        return out, tuple(self._problems)

    @property
    def _html_renderer(self) -> RendererHTML:
        """markdown-it's HTML renderer (its type says only "a renderer")."""
        return cast("RendererHTML", self._md.renderer)

    def _html(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        content = tokens[idx].content
        tags = {t.lower() for t in _TAG.findall(content)}
        if tags and tags <= ALLOWED_TAGS and not content.lstrip().startswith("<!"):
            return content
        return html.escape(content, quote=False)

    def _cell(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        """A table cell; a column's alignment as ``align`` (the sanitiser drops every ``style``)."""
        token = tokens[idx]
        style = token.attrGet("style")
        if isinstance(style, str) and style.startswith("text-align:"):
            token.attrs.pop("style")
            token.attrSet("align", style.removeprefix("text-align:"))
        rendered: str = self._html_renderer.renderToken(tokens, idx, options, env)
        return rendered

    def _image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        token.attrSet("alt", self._html_renderer.renderInlineAsText(token.children or [], options, env))
        return self._html_renderer.renderToken(tokens, idx, options, env)

    def _attribute(self, tag: str, name: str, value: str) -> str | None:
        """nh3 calls this for every attribute it keeps, with the value a browser would read: every
        image, Markdown or raw ``<img>``, is checked and bundled here, on the final HTML."""
        if tag != "img" or name != "src":
            return value
        src = value.strip(" \t\n\r\f")
        if _SCHEME.match(src) or src.startswith("//"):
            return value  # remote: nh3 has already dropped schemes other than http(s)
        return self._bundle(src) or ""

    def _add_media_folder(self, given: str) -> None:
        """Every file of the media folder, confined like images: the folder and each file must
        resolve (symbolic links followed) to somewhere inside the deck's folder, or a link in the
        deck's folder would bundle a folder from anywhere (``~/.ssh``) into the package."""
        shown = _shown(os.path.relpath(given, self._deck_dir))
        folder = os.path.realpath(given)
        if os.path.commonpath([folder, self.root]) != self.root:
            self.media_problems.append(f"media folder `{shown}` links outside the deck's folder")
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            self.media_problems.append(f"media folder `{shown}` not found (looked for {_shown(folder)})")
            return
        except OSError as e:
            self.media_problems.append(f"media folder `{shown}` cannot be read: {e.strerror}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.realpath(entry.path)
            name = _shown(entry.name)
            if _CONTROL_OR_SEPARATOR.search(entry.name):
                self.media_problems.append(f"media file name {entry.name!r} is not a name Anki accepts")
            elif os.path.commonpath([path, self.root]) != self.root:
                self.media_problems.append(f"media file {name} links outside the deck's folder")
            elif not os.path.isfile(path):
                self.media_problems.append(f"media file {name} is not a regular file")
            else:
                self.media[entry.name] = path
                self.folder_media.add(entry.name)

    def _bundle(self, src: str) -> str | None:
        """Name a local image by its content hash so it never clashes with a user's media.

        A name found in the deck's media folder keeps its name (and ``src`` stays as written).
        """
        shown = _shown(src)
        rel = unquote(src)
        if src in self.folder_media or rel in self.folder_media:
            return src
        if "\x00" in rel:
            self._problems.append(f"image `{shown}` has a NUL character in its path")
            return None
        try:
            path = os.path.realpath(os.path.join(self.root, rel))
            inside = os.path.commonpath([path, self.root]) == self.root
        except (OSError, ValueError):
            self._problems.append(f"image `{shown}` has a path this system cannot use")
            return None
        if not inside:
            self._problems.append(f"image `{shown}` is outside the deck's folder")
            return None
        ext = os.path.splitext(path)[1].lower()
        if ext not in IMAGE_TYPES:
            self._problems.append(
                f"image `{shown}` is not an image type Anki shows ({', '.join(sorted(IMAGE_TYPES))})"
            )
            return None
        digest = self._digest(path, shown)
        if digest is None:
            return None
        name = f"factdeck-{digest}{ext}"
        self.media[name] = path
        return name

    def _digest(self, path: str, shown: str) -> str | None:
        """The file's content hash, read only from a regular file: a FIFO or a device named like
        an image would block the build or never end, so it is refused before it is opened."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                self._not_regular(path, shown)
                return None
            fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
        except FileNotFoundError:
            self._problems.append(f"image `{shown}` not found (looked for {_shown(path)})")
            return None
        except (OSError, ValueError) as e:
            self._problems.append(f"image `{shown}` cannot be read: {getattr(e, 'strerror', None) or e}")
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check above
                self._not_regular(path, shown)
                return None
            digest = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        except OSError as e:
            self._problems.append(f"image `{shown}` cannot be read: {e.strerror}")
            return None
        finally:
            os.close(fd)
        return digest.hexdigest()[:24]

    def _not_regular(self, path: str, shown: str) -> None:
        kind = "a folder" if os.path.isdir(path) else "not a regular file (a FIFO, device or socket)"
        self._problems.append(f"image `{shown}` is {kind}; name an image file")


# Never block on opening a FIFO, never take a terminal as controlling terminal.
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _shown(text: str) -> str:
    """Text for a message, with control characters escaped so they cannot act on a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def math_spans(text: str) -> list[tuple[int, int]]:
    r"""Where ``\(...\)`` and ``\[...\]`` stand, exactly as the lazy regex
    ``\\\(.*?\\\)|\\\[.*?\\\]`` finds them, in one pass: that regex rescans to the end
    of the text from every opener that is never closed (quadratic). Here the next closer of each
    kind is remembered, so no search covers the same text twice."""
    spans: list[tuple[int, int]] = []
    next_close = {"(": -2, "[": -2}  # -2: not searched yet, -1: none left
    pos = 0
    while (m := _MATH_OPEN.search(text, pos)) is not None:
        start = m.start()
        kind = text[start + 1]
        close = next_close[kind]
        if close != -1 and close < start + 2:
            close = next_close[kind] = text.find(_MATH_CLOSE[kind], start + 2)
        if close == -1:
            pos = start + 1
            continue
        spans.append((start, close + 2))
        pos = close + 2
    return spans


def _placeholder_marks(text: str) -> tuple[str, str] | None:
    """Two private-use characters the text does not hold, to stand around a math placeholder
    (so that no text a user writes can be mistaken for one); None if it holds them all."""
    if "\ue000" not in text and "\ue001" not in text:
        return "\ue000", "\ue001"
    used = set(text)
    free = (chr(c) for c in (*range(0xE002, 0xF900), *range(0xF0000, 0xFFFFE)) if chr(c) not in used)
    first, second = next(free, None), next(free, None)
    return (first, second) if first and second else None


def _stash(text: str, spans: list[tuple[int, int]], marks: tuple[str, str]) -> tuple[str, list[str]]:
    """The text with each math span replaced by a numbered placeholder, and the spans."""
    parts: list[str] = []
    maths: list[str] = []
    pos = 0
    for start, end in spans:
        parts.append(text[pos:start])
        parts.append(f"{marks[0]}{len(maths)}{marks[1]}")
        maths.append(text[start:end])
        pos = end
    parts.append(text[pos:])
    return "".join(parts), maths


def _one_paragraph(text: str) -> bool:
    """True when CommonMark can only read ``text`` as a single paragraph of inline content."""
    return (
        "\n" not in text
        and "\r" not in text
        and text[:1] not in ("*", "_", "<", "[", "`", " ", "\t", "")
        and not _BLOCK_START.match(text)
    )


# `format: html` fields (custom note types) keep what they were written with, imported decks'
# inline styles and fonts included, minus anything that could run: nh3's safe tags plus these.
_HTML_FIELD_EXTRA_TAGS = {"font", "tfoot"}
_HTML_FIELD_EXTRA_ATTRIBUTES = {
    "*": {"class", "style", "title", "dir", "lang"},
    "font": {"color", "face", "size"},
}


def html_field(renderer: Renderer, text: str) -> tuple[str, tuple[str, ...]]:
    """A `format: html` field: sanitised, with local images bundled like Markdown ones."""
    import nh3

    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, names in _HTML_FIELD_EXTRA_ATTRIBUTES.items():
        attributes[tag] = attributes.get(tag, set()) | names
    problems: list[str] = []

    def bundle(tag: str, attr: str, value: str) -> str | None:
        if tag == "img" and attr == "src" and not _SCHEME.match(value) and not value.startswith("//"):
            renderer._problems = []
            name = renderer._bundle(value)
            problems.extend(renderer._problems)
            return name
        return value

    if text.count("<") > MAX_TAGS and len(_START_TAG.findall(text)) > MAX_TAGS:
        return html.escape(text), (f"more than {MAX_TAGS:,} HTML tags; a card field holds far fewer",)
    out = nh3.clean(
        text,
        tags=set(nh3.ALLOWED_TAGS) | _HTML_FIELD_EXTRA_TAGS,
        attributes=attributes,
        attribute_filter=bundle,
        link_rel=None,
        url_schemes=URL_SCHEMES | {"data"},
    )
    return out, tuple(problems)


def text_field(text: str) -> str:
    """A `format: text` field: shown exactly as typed, line breaks included."""
    return html.escape(text, quote=False).replace("\r\n", "<br>").replace("\n", "<br>")


def sources_html(citations: Iterable[tuple[str, str]], sources: Mapping[str, Source]) -> str:
    """The Sources field: a short list of linked titles, each with its locator ("§5.1") if any."""
    items = []
    for key, locator in citations:
        src = sources[key]
        title = html.escape(src.title, quote=False)
        where = f", {html.escape(locator, quote=False)}" if locator else ""
        if src.url:
            items.append(f'<li><a href="{html.escape(src.url)}">{title}</a>{where}</li>')
        else:
            items.append(f"<li>{title}{where}</li>")
    return f'<ul class="fd-sources">{"".join(items)}</ul>' if items else ""
