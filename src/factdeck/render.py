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
from urllib.parse import unquote

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
_MATH = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)")
_CONTROL_OR_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class Renderer:
    """Renders the fields of one deck file; images resolve against that file's folder.

    A deck may also name a media folder (``deck: media:``, as ``factdeck import`` writes):
    every file in it is bundled under its own name, and a field that uses one by that name
    (``<img src="x.png">``, ``[sound:x.mp3]``, a template's ``_font.woff``) is left as it is,
    so the cards of an imported deck keep working in users' collections.
    """

    def __init__(self, deck_dir: str, media_dir: str | None = None):
        self.root = os.path.realpath(deck_dir)
        self.media: dict[str, str] = {}  # package name -> path on disk
        self.media_dir = os.path.realpath(media_dir) if media_dir else None
        self.media_problems: list[str] = []  # about the media folder itself
        self.folder_media: set[str] = set()  # names of the files in the media folder
        if self.media_dir is not None:
            self._add_media_folder(self.media_dir)
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._problems: list[str] = []
        self._markdown = None

    @property
    def _md(self):
        """The Markdown parser, made on first use: most fields never need it."""
        if self._markdown is None:
            from markdown_it import MarkdownIt

            # GitHub's pipe tables and ~~strikethrough~~ too: deck authors write them
            self._markdown = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(
                ["table", "strikethrough"]
            )
            rules = self._markdown.renderer.rules
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
        maths: list[str] = []

        def stash(m: re.Match) -> str:
            maths.append(m.group(0))
            return f"\ue000{len(maths) - 1}\ue001"

        source = _MATH.sub(stash, text) if "\\" in text else text
        if _one_paragraph(source):
            out = self._md.renderInline(source)  # same HTML as a lone <p>, without block parsing
        else:
            out = self._md.render(source)
            if out.startswith("<p>") and out.endswith("</p>\n") and out.count("<p>") == 1:
                out = out[3:-5]
        import nh3

        out = nh3.clean(
            out.strip(), tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES
        )
        if maths:
            out = re.sub(
                "\ue000(\\d+)\ue001", lambda m: html.escape(maths[int(m.group(1))], quote=False), out
            )
        return out, tuple(self._problems)

    def _html(self, tokens, idx, options, env):
        content = tokens[idx].content
        tags = {t.lower() for t in _TAG.findall(content)}
        if tags and tags <= ALLOWED_TAGS and not content.lstrip().startswith("<!"):
            return content
        return html.escape(content, quote=False)

    def _cell(self, tokens, idx, options, env):
        """A table cell; a column's alignment as ``align`` (the sanitiser drops every ``style``)."""
        token = tokens[idx]
        style = token.attrGet("style")
        if isinstance(style, str) and style.startswith("text-align:"):
            token.attrs.pop("style")
            token.attrSet("align", style.removeprefix("text-align:"))
        return self._md.renderer.renderToken(tokens, idx, options, env)

    def _image(self, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        if not _SCHEME.match(src) and not src.startswith("//"):
            name = self._bundle(src)
            token.attrSet("src", name or "")
        token.attrSet("alt", self._md.renderer.renderInlineAsText(token.children or [], options, env))
        return self._md.renderer.renderToken(tokens, idx, options, env)

    def _add_media_folder(self, folder: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            self.media_problems.append(f"media folder {folder} not found")
            return
        except OSError as e:
            self.media_problems.append(f"media folder {folder} cannot be read: {e.strerror}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.realpath(entry.path)
            if _CONTROL_OR_SEPARATOR.search(entry.name):
                self.media_problems.append(f"media file name {entry.name!r} is not a name Anki accepts")
            elif os.path.dirname(path) != folder and os.path.commonpath([path, self.root]) != self.root:
                self.media_problems.append(f"media file {entry.name} links outside the deck's folder")
            elif not os.path.isfile(path):
                self.media_problems.append(f"media file {entry.name} is not a regular file")
            else:
                self.media[entry.name] = path
                self.folder_media.add(entry.name)

    def _bundle(self, src: str) -> str | None:
        """Name a local image by its content hash so it never clashes with a user's media.

        A name found in the deck's media folder keeps its name (and ``src`` stays as written).
        """
        rel = unquote(src)
        if src in self.folder_media or rel in self.folder_media:
            return src
        path = os.path.realpath(os.path.join(self.root, rel))
        if os.path.commonpath([path, self.root]) != self.root:
            self._problems.append(f"image `{src}` is outside the deck's folder")
            return None
        ext = os.path.splitext(path)[1].lower()
        if ext not in IMAGE_TYPES:
            self._problems.append(
                f"image `{src}` is not an image type Anki shows ({', '.join(sorted(IMAGE_TYPES))})"
            )
            return None
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:24]
        except FileNotFoundError:
            self._problems.append(f"image `{src}` not found (looked for {path})")
            return None
        except OSError as e:
            self._problems.append(f"image `{src}` cannot be read: {e.strerror}")
            return None
        name = f"factdeck-{digest}{ext}"
        self.media[name] = path
        return name


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


def sources_html(citations, sources) -> str:
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
