"""Markdown fields to safe HTML, with math and cloze markers intact and images bundled as media.

Two layers keep cards safe: raw HTML whose tag is not on the allow-list is shown escaped (so
``x<y and z>`` reads as typed instead of vanishing), and nh3 then strips anything unsafe that
remains (event handlers, ``javascript:`` URLs). Plain one-line text, by far the most common
field, skips Markdown entirely: its HTML is the text itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "img": {"src", "alt", "width", "height", "srcset"},  # srcset: only to say it is dropped
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp"}
# What Anki's editor puts in `[sound:...]` (aqt/editor.py `audio`): the files Anki plays
SOUND_TYPES = {
    *(".3gp", ".aac", ".avi", ".flac", ".flv", ".m4a", ".mkv", ".mov", ".mp3", ".mp4", ".mpeg"),
    *(".mpg", ".oga", ".ogg", ".ogv", ".ogx", ".opus", ".spx", ".swf", ".wav", ".webm"),
}
# nh3 drops a URL with another scheme before our filter sees it; `file:` is let through only so
# that the filter can say why it goes (the author wrote a reference and would get nothing)
_FILTERED_SCHEMES = {"file"}

_SPECIAL = re.compile(r"[\\`*_\[\]<>&~\n\r\t]")  # `~`: ~~strikethrough~~
_SPECIAL_BUT_STAR = re.compile(r"[\\`_\[\]<>&~\n\r\t\xa0]")  # the sanitiser writes U+00A0 as &nbsp;
_STARS = re.compile(r"(\*+)")
_EMPHASIS_TAGS = {1: ("<em>", "</em>"), 2: ("<strong>", "</strong>")}
_OUTSIDE = frozenset(" !\"#$%'()+,-./:;=?@^{|}")  # a space or ASCII punctuation, not `*`
_BLOCK_START = re.compile(r"[-+#>=~:|]|\d{1,9}[.)](?:\s|$)")
_MATH_OPEN = re.compile(r"\\[(\[]")
_MATH_CLOSE = {"(": "\\)", "[": "\\]"}
_TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)")
_CONTROL_OR_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_START_TAG = re.compile(r"<[A-Za-z]")
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
# The HTML parser under nh3 takes time quadratic in how deeply elements nest (each block start
# tag searches the open elements): a field may hold this many tags, far more than a card shows.
MAX_TAGS = 5_000


class Warn(str):
    """A rendering problem that is a warning (the card still shows what was meant), not an error."""


class Missing(Warn):
    """A local file a field names that the renderer was told not to look for (``probe``): the
    name, as the field writes it, for ``factdeck import`` to list under `missing-media`."""


class Renderer:
    """Renders the fields of one deck file; images resolve against that file's folder.

    A deck may also name a media folder (``deck: media:``, as ``factdeck import`` writes): a
    field that uses one of its files by name (``<img src="x.png">``, ``[sound:x.mp3]``) is left
    as it is, so the cards of an imported deck keep working in users' collections. Only the files
    Anki's import keeps are bundled (measured): those a field names so, and those whose names
    start with `_` (a template's ``_font.woff``); ``unused_media`` names the others.
    """

    def __init__(self, deck_dir: str, media_dir: str | None = None, missing: Iterable[str] = ()):
        self._deck_dir = deck_dir
        self.root = os.path.realpath(deck_dir)
        self.media: dict[str, str] = {}  # package name -> path on disk
        self.media_problems: list[str] = []  # about the media folder itself
        self.folder_media: set[str] = set()  # names kept as written: the media folder's files...
        self.folder_files: dict[str, str] = {}  # the media folder's files: name -> path on disk
        self.missing = set(missing)  # ...and these, which the deck lacks (`missing-media`)
        # True: every other local file a field names is a `Missing` problem, kept as written,
        # never looked for (``factdeck import`` finding what its package lacks)
        self.probe = False
        if media_dir:
            self._add_media_folder(media_dir)
        self.folder_media |= self.missing
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._problems: list[str] = []
        self._srcset = False  # the field being rendered had an image with `srcset`
        self._braced = False  # ... an attribute holding `{{` or `}}`, or braces it may have made
        # Final HTML where rendering may have broken a cloze: `{{` or `}}` in an attribute (a
        # cloze in a tag), or braces Markdown escapes or character references made (a cloze
        # left unclosed). The build runs cloze.breakage on these fields only.
        self.braced: set[str] = set()
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
            # markdown-it leaves `![x](file:...)` and `[x](javascript:...)` as literal text; every
            # URL goes to the sanitiser and ``_filter`` instead, which check (and report) them as
            # they do raw HTML's
            self._markdown.validateLink = _any_link  # type: ignore[method-assign]  # markdown-it reads it per instance
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
        if "*" in text and not _SPECIAL_BUT_STAR.search(text) and not _BLOCK_START.match(text):
            emphasised = _simple_emphasis(text)
            if emphasised is not None:
                return emphasised, ()
        self._problems = []
        self._srcset = self._braced = False
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
            url_schemes=URL_SCHEMES | _FILTERED_SCHEMES | {"data"},  # data: images are refused in ``_filter``
            attribute_filter=self._attribute,
        )
        if ("\\" in text or "&" in text) and "{{" in out:
            self._braced = True
        return self._finish(out), tuple(self._problems)

    def _finish(self, out: str) -> str:
        """What the sanitiser's filter cannot do element by element: `[sound:...]` references
        (bundled like images) and images whose only source was a dropped `srcset`."""
        if self._srcset:
            if _IMG_WITHOUT_SRC.search(out):
                self._problems.append(
                    "an image has `srcset` and no `src`: factdeck bundles only `src`, so it shows nothing; "
                    "name the image in `src`"
                )
            else:
                self._problems.append(
                    Warn("`srcset` of an image is dropped: factdeck bundles only `src`, which the card shows")
                )
        if "[sound:" in out:
            out = _replace_sounds(out, self._sound)
        if self._braced:
            self.braced.add(out)
        return out

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
        return self._filter(tag, name, value, False)

    def _filter(self, tag: str, name: str, value: str, html_field: bool) -> str | None:
        """Check one attribute: local images bundled, `style` urls too (html fields), `file:`
        and `srcset` dropped with a problem saying so, `data:` only as an image's source."""
        if "{{" in value or "}}" in value:
            self._braced = True
        if name == "style":
            return self._style(value) if "(" in value else value
        if name == "srcset":
            self._srcset = True
            return None
        url = value.strip(" \t\n\r\f")
        scheme = _SCHEME.match(url)
        if scheme:
            kind = scheme.group().lower()
            if kind == "file:":
                if tag == "img" and name == "src":
                    self._problems.append(_file_url("image", url))
                else:
                    self._problems.append(Warn(f"{_file_url('link', url)}; the link is dropped"))
                return None
            if kind == "data:":
                if not (tag == "img" and name == "src"):
                    return None  # a data: URL only as an image, never a page to open
                if not html_field:
                    self._problems.append(
                        "an image given as a `data:` address is dropped from a Markdown field: save it as "
                        "a file beside the deck and name it (factdeck bundles it), or use a `format: html` field"
                    )
                    return None
                return value if self._data_svg_ok(url) else None
            return value  # remote: nh3 has already dropped schemes other than http(s) and mailto
        if tag == "img" and name == "src" and not url.startswith("//"):
            return self._bundle(url) or ""
        if tag == "a" and name == "href":
            return value if self._link_inside(url) else None
        return value

    def _link_inside(self, url: str) -> bool:
        """Whether a relative link stays inside the deck's folder, as a browser reads the path
        (`\\` is `/`, `%2e` is `.`, `?` and `#` end it); one that leaves it is an error, as for
        images: a card never reaches such a file, and the path tells of the author's files."""
        slashed = url.replace("\\", "/")
        if slashed.startswith("//"):
            return True  # another host (`//example.org/x`): a web address
        path = unquote(re.split(r"[?#]", slashed, maxsplit=1)[0])
        if not path:
            return True  # `#part`, `?query`: the card itself
        try:
            target = os.path.realpath(os.path.join(self.root, path))
            inside = os.path.commonpath([target, self.root]) == self.root
        except (OSError, ValueError):
            inside = False
        if not inside:
            self._problems.append(f"link `{_shown(url)}` is outside the deck's folder")
        return inside

    def _style(self, value: str) -> str | None:
        """A `style` attribute with its `url(...)` (and `image-set(...)`) references checked like
        images: local ones bundled and renamed, remote and `#fragment` ones kept, others refused."""
        parts: list[str] = []
        pos, bad = 0, False
        for start, end, url, quoted_only in css_urls(value):
            target = self._style_url(url)
            if target is None:
                bad = True
            elif target != url:
                parts.append(value[pos:start])
                parts.append(f'"{_css_string(target)}"' if quoted_only else f'url("{_css_string(target)}")')
                pos = end
        if bad:
            return None
        parts.append(value[pos:])
        return "".join(parts)

    def _style_url(self, url: str) -> str | None:
        """Where a `url()` in a style should point (the same, or the bundled name); None if it
        cannot be kept (the problem is recorded)."""
        url = url.strip(" \t\n\r\f")
        if not url or url.startswith(("#", "//")):
            return url
        scheme = _SCHEME.match(url)
        if scheme:
            kind = scheme.group().lower()
            if kind in ("http:", "https:"):
                return url
            if kind == "data:":
                return url if self._data_svg_ok(url) else None
            if kind == "file:":
                self._problems.append(_file_url("`url()` in `style`", url))
            else:
                self._problems.append(
                    f"`url({_shown(url)})` in `style` is neither a web address nor a file in the deck's folder"
                )
            return None
        if url in self.folder_media or unquote(url) in self.folder_media:
            name = url if url in self.folder_media else unquote(url)
            self._use(name)  # bundled as named; whether Anki keeps it is the warning's point
            if not name.startswith("_") and name not in self.missing:
                self._problems.append(
                    Warn(
                        f"`url({_shown(url)})` in `style` names a file of the media folder that Anki's "
                        "import leaves out (it keeps the files fields name in `<img>` or `[sound:]`, and "
                        "those whose names start with `_`); rename it to start with `_`"
                    )
                )
            return url
        # Anki does not see files named only in a style: a name starting with `_` (as for
        # templates) keeps the file through Anki's import and its Check Media
        return self._bundle(url, prefix="_")

    def _data_svg_ok(self, url: str) -> bool:
        """A data: image that is an SVG is checked like an SVG file (no script, no outside files)."""
        head, _, payload = url[5:].partition(",")
        if not head.lower().lstrip().startswith("image/svg"):
            return True
        try:
            data = (
                base64.b64decode(payload) if head.lower().endswith(";base64") else unquote(payload).encode()
            )
        except (ValueError, binascii.Error):
            return True  # not an image any browser decodes: it shows nothing, runs nothing
        problem = svg_problem(data)
        if problem is None:
            return True
        self._problems.append(f"an SVG image given as a data: address {problem}")
        return False

    def _sound(self, raw: str) -> str:
        """One `[sound:NAME]`, as Anki reads it (NAME with HTML entities decoded): a file of the
        media folder keeps its name, a file in the deck's folder is bundled and renamed."""
        name = html.unescape(raw)
        if name in self.folder_media:
            self._use(name)
            return f"[sound:{raw}]"
        if _SCHEME.match(name) or name.startswith("//"):
            self._problems.append(
                f"sound `{_shown(name)}` is a web address: Anki plays only files it has; "
                "put the file beside the deck and name it relative to the deck file"
            )
            return f"[sound:{raw}]"
        bundled = self._bundle(name, "sound", SOUND_TYPES, url=False)
        return f"[sound:{raw}]" if bundled is None or bundled == name else f"[sound:{bundled}]"

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
            elif entry.name.lower().endswith(".svg") and (problem := _svg_file_problem(path)):
                self.media_problems.append(f"media file {name} {problem}")
            else:
                self.folder_files[entry.name] = path
                self.folder_media.add(entry.name)
                if entry.name.startswith("_"):
                    self._use(entry.name)  # Anki keeps it, named or not (templates, styles)

    def _use(self, name: str) -> None:
        """A file of the media folder is named where Anki sees it: it goes into the package."""
        path = self.folder_files.get(name)
        if path is not None and name not in self.media:
            self.media[name] = path

    def unused_media(self, bundled: Mapping[str, str]) -> list[str]:
        """The media folder's files that nothing in ``bundled`` (the deck's media, from every
        renderer that rendered its fields) holds: Anki's import would leave them out."""
        return [name for name in self.folder_files if name not in bundled]

    def bundle(self, src: str, kind: str, types: set[str], url: bool = True) -> tuple[str | None, list[str]]:
        """A file a note type's template or CSS names, bundled as `_factdeck-<hash>` (a name
        Anki keeps though no field names it), and the problems found."""
        self._problems = []
        return self._bundle(src, kind, types, url, prefix="_"), [str(p) for p in self._problems]

    def _bundle(
        self, src: str, kind: str = "image", types: set[str] = IMAGE_TYPES, url: bool = True, prefix: str = ""
    ) -> str | None:
        """Name a local file by its content hash so it never clashes with a user's media.

        A name found in the deck's media folder keeps its name (and the reference stays as
        written). ``url``: ``src`` is a URL (an image source), so `%2e` means `.`; a sound's
        name is a file name as it is.
        """
        shown = _shown(src)
        rel = unquote(src) if url else src
        if src in self.folder_media or rel in self.folder_media:
            self._use(src if src in self.folder_media else rel)
            return src
        if self.probe:
            self._problems.append(Missing(src))
            return src
        if "\x00" in rel:
            self._problems.append(f"{kind} `{shown}` has a NUL character in its path")
            return None
        try:
            path = os.path.realpath(os.path.join(self.root, rel))
            inside = os.path.commonpath([path, self.root]) == self.root
        except (OSError, ValueError):
            self._problems.append(f"{kind} `{shown}` has a path this system cannot use")
            return None
        if not inside:
            self._problems.append(f"{kind} `{shown}` is outside the deck's folder")
            return None
        ext = os.path.splitext(path)[1].lower()
        if ext not in types:
            self._problems.append(
                f"{kind} `{shown}` is not {'an image' if kind == 'image' else 'a'} type Anki "
                f"{'shows' if kind == 'image' else 'plays'} ({', '.join(sorted(types))})"
            )
            return None
        digest = self._digest(path, shown, kind, ext == ".svg")
        if digest is None:
            return None
        name = f"{prefix}factdeck-{digest}{ext}"
        taken = self.folder_files.get(name)
        if taken is not None and not same_content(taken, path):
            self._problems.append(
                f"{kind} `{shown}` is bundled as `{name}`, the name of another file in the media folder "
                f"({_shown(taken)}); rename that file"
            )
            return None
        self.media[name] = path
        return name

    def _digest(self, path: str, shown: str, kind: str = "image", svg: bool = False) -> str | None:
        """The file's content hash, read only from a regular file: a FIFO or a device named like
        an image would block the build or never end, so it is refused before it is opened. An
        SVG is also read for what must not reach a package (see ``svg_problem``)."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                self._not_regular(path, shown, kind)
                return None
            fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
        except FileNotFoundError:
            self._problems.append(f"{kind} `{shown}` not found (looked for {_shown(path)})")
            return None
        except (OSError, ValueError) as e:
            self._problems.append(f"{kind} `{shown}` cannot be read: {getattr(e, 'strerror', None) or e}")
            return None
        content = bytearray() if svg else None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check above
                self._not_regular(path, shown, kind)
                return None
            digest = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
                if content is not None:
                    content += chunk
        except OSError as e:
            self._problems.append(f"{kind} `{shown}` cannot be read: {e.strerror}")
            return None
        finally:
            os.close(fd)
        if content is not None:
            problem = svg_problem(bytes(content))
            if problem is not None:
                self._problems.append(f"SVG image `{shown}` {problem}")
                return None
        return digest.hexdigest()[:24]

    def _not_regular(self, path: str, shown: str, kind: str = "image") -> None:
        what = "a folder" if os.path.isdir(path) else "not a regular file (a FIFO, device or socket)"
        self._problems.append(
            f"{kind} `{shown}` is {what}; name {'an image' if kind == 'image' else 'a'} file"
        )


def same_content(a: str, b: str) -> bool:
    """Whether two files hold the same bytes (one file by two paths does); False if either
    cannot be read (the build reports that where it reads them)."""
    import filecmp

    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def media_key(name: str) -> str:
    """What a package's media name is to every importer: Anki stores names in Unicode NFC
    (measured: `é` written decomposed is renamed, and the notes naming it rewritten), and on
    Windows and macOS `X.png` and `x.png` are one file."""
    import unicodedata

    return unicodedata.normalize("NFC", name).casefold()


def _any_link(url: str) -> bool:
    return True


# Never block on opening a FIFO, never take a terminal as controlling terminal.
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _shown(text: str) -> str:
    """Text for a message, with control characters escaped so they cannot act on a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _file_url(what: str, url: str) -> str:
    return (
        f"{what} `{_shown(url)}` is a file: address, which a card cannot load; put the file in the "
        "deck's folder and name it relative to the deck file"
    )


# --- url() in CSS ----------------------------------------------------------------------------------

_CSS_ESCAPE = r"\\(?:[0-9A-Fa-f]{1,6}[ \t\n\r\f]?|[^\n0-9A-Fa-f])"
_CSS_IDENT = re.compile(
    rf"-?(?:[A-Za-z_\x80-\U0010ffff]|{_CSS_ESCAPE})(?:[\w\-\x80-\U0010ffff]|{_CSS_ESCAPE})*"
)
_CSS_SKIP = re.compile(r"/\*.*?(?:\*/|\Z)|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?", re.S)
_CSS_ESCAPE_RE = re.compile(_CSS_ESCAPE, re.S)
_CSS_WS = " \t\n\r\f"
_URL_FUNCTIONS = {"url", "src"}
_STRING_URL_FUNCTIONS = {"image-set", "-webkit-image-set"}


def _css_unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        body = m.group()[1:].rstrip(_CSS_WS)
        if body and all(c in "0123456789abcdefABCDEF" for c in body):
            code = int(body, 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group()[1:]

    return _CSS_ESCAPE_RE.sub(one, text) if "\\" in text else text


def _css_string_at(text: str, i: int) -> tuple[str, int]:
    """The value of the CSS string starting at ``text[i]`` (a quote), and where it ends."""
    m = _CSS_SKIP.match(text, i)
    assert m is not None
    raw = m.group()
    inner = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
    return _css_unescape(inner.replace("\\\n", "")), m.end()


def css_urls(style: str) -> list[tuple[int, int, str, bool]]:
    """Every URL a browser would load from a CSS declaration list, as (start, end, URL, is a bare
    string): `url(x)`, `url("x")` and `src("x")` (the span is the whole function), and the
    strings of `image-set("x" 1x)` (the span is the string). Comments, strings and escapes
    (`\75 rl(`) are read as CSS reads them, so no spelling hides a URL."""
    found: list[tuple[int, int, str, bool]] = []
    i, n = 0, len(style)
    image_set_depth = 0  # > 0 inside image-set(...): 1 is its own argument level
    while i < n:
        c = style[i]
        if c in "\"'":
            value, end = _css_string_at(style, i)
            if image_set_depth == 1:
                found.append((i, end, value, True))
            i = end
            continue
        if c == "/" and style.startswith("/*", i):
            m = _CSS_SKIP.match(style, i)
            i = m.end() if m else n
            continue
        if c == "(":
            image_set_depth += image_set_depth > 0
            i += 1
            continue
        if c == ")":
            image_set_depth -= image_set_depth > 0
            i += 1
            continue
        m = _CSS_IDENT.match(style, i) if (c.isalpha() or c in "-_\\" or c >= "\x80") else None
        if m is None:
            i += 1
            continue
        if not style.startswith("(", m.end()):
            i = m.end()  # a whole word: no function name starts inside it
            continue
        name = _css_unescape(m.group()).lower()
        j = m.end() + 1
        if name in _URL_FUNCTIONS:
            while j < n and style[j] in _CSS_WS:
                j += 1
            if j < n and style[j] in "\"'":
                value, j = _css_string_at(style, j)
            else:
                start = j
                while j < n and style[j] != ")":
                    j += 2 if style[j] == "\\" else 1
                value = _css_unescape(style[start:j].rstrip(_CSS_WS))
            while j < n and style[j] != ")":  # what a string is followed by, up to the `)`
                j += 1
            j = min(j + 1, n)
            found.append((i, j, value, False))
        elif name in _STRING_URL_FUNCTIONS and image_set_depth == 0:
            image_set_depth = 1
        elif image_set_depth:
            image_set_depth += 1  # a nested function's own parenthesis
        i = j
    return found


def _css_string(value: str) -> str:
    """``value`` for a double-quoted CSS string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ")


# --- what an SVG must not bring into a package -----------------------------------------------------

_SVG_ACTIVE = re.compile(
    rb"<\s*(?:[\w.-]+:)?(?:script|foreignobject|iframe|embed|object|handler|listener)\b"
    rb"|[\s\"'/](?:[\w.-]+:)?on[a-z]+\s*="
    rb"|j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t\s*:"
    rb"|attributename\s*=\s*[\"']?\s*(?:on|href|xlink:href)"
    rb"|<!entity[^>]*[&<%]",
    re.I,
)
_SVG_EXTERNAL = re.compile(
    rb"[\s\"'/](?:[\w.-]+:)?(?:href|src)\s*=\s*([\"']?)\s*(?![\"'#\s>]|data:)"
    rb"|url\(\s*([\"']?)\s*(?![\"'#)\s]|data:)"
    rb"|@import|<\?xml-stylesheet",
    re.I,
)


_XML_REF = re.compile(rb"&(?:#(\d{1,8})|#x([0-9A-Fa-f]{1,6})|(lt|gt|amp|quot|apos));")
_XML_NAMED = {b"lt": b"<", b"gt": b">", b"amp": b"&", b"quot": b'"', b"apos": b"'"}


def _xml_ref(m: re.Match[bytes]) -> bytes:
    if m.group(3):
        return _XML_NAMED[m.group(3)]
    code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
    return chr(code).encode("utf-8", errors="replace") if 0 < code <= 0x10FFFF else b"?"


def svg_problem(data: bytes) -> str | None:
    """Why an SVG must not be bundled, or None: a script, an event handler or a `javascript:`
    URL (they run if the file is opened on its own, or shown with `<object>`), a
    `<foreignObject>` (HTML inside), or a reference to another file (it would not load in a
    card). Refused rather than rewritten: factdeck does not change the files it bundles."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", errors="replace").encode("utf-8")
    elif b"\x00" in data[:200]:  # UTF-16 or UTF-32 without a BOM: read it as text either way
        data = data.replace(b"\x00", b"")
    if b"&" in data:  # what the XML parser reads: `&#106;avascript:` is `javascript:`
        data = _XML_REF.sub(_xml_ref, data)
    m = _SVG_ACTIVE.search(data)
    if m is not None:
        return (
            f"holds `{_snippet(m.group())}`: active content (a script, an event handler, embedded HTML) "
            "runs when the file is opened on its own; remove it"
        )
    m = _SVG_EXTERNAL.search(data)
    if m is not None:
        end = data.find(b">", m.start())
        near = data[m.start() : m.end() + 40 if end == -1 else min(end, m.end() + 40)]
        return (
            f"refers to another file (`{_snippet(near)}`), which a card cannot load; "
            "embed it (data:) or remove it"
        )
    return None


def _snippet(raw: bytes) -> str:
    return _shown(" ".join(raw.decode("utf-8", errors="replace").split()))


def _svg_file_problem(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return svg_problem(f.read())
    except OSError as e:
        return f"cannot be read: {e.strerror}"


def sound_spans(text: str) -> list[tuple[int, int]]:
    r"""Where the `[sound:NAME]`s stand, exactly as Anki's ``\[sound:(.+?)\]`` (dot matching
    line breaks) finds them, in one pass: Python's backtracking regex rescans to the end of the
    text from every opener that is never closed (quadratic). Once no `]` is left, no later
    opener can match either."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (start := text.find("[sound:", pos)) != -1:
        close = text.find("]", start + 8)  # the name is at least one character, `]` included
        if close == -1:
            break
        spans.append((start, close + 1))
        pos = close + 1
    return spans


def _replace_sounds(text: str, replace: Callable[[str], str]) -> str:
    """``text`` with each `[sound:NAME]` replaced by ``replace(NAME)``."""
    out: list[str] = []
    pos = 0
    for start, end in sound_spans(text):
        out += [text[pos:start], replace(text[start + 7 : end - 1])]
        pos = end
    out.append(text[pos:])
    return "".join(out)


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


def _simple_emphasis(text: str) -> str | None:
    """The HTML of one line of plain text with `*a*` and `**b**`, the commonest Markdown, or
    None when it needs the full parser (tests/test_render.py compares the two).

    Only runs whose role no CommonMark rule can doubt are taken: an opener after the start, a
    space or ASCII punctuation and before a letter or digit, a closer of the same length after
    a letter or digit and before the end, a space or ASCII punctuation, strictly alternating.
    Such a run can only open (or only close), so the pairs are exactly these.
    """
    if text[0].isspace() or text[-1].isspace():
        return None
    parts = _STARS.split(text)  # text, run, text, run, ..., text
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        run, before, after = parts[i], parts[i - 1], parts[i + 1]
        opening = i % 4 == 1
        if len(run) > 2 or (not opening and len(run) != len(parts[i - 2])):
            return None
        if opening:
            if (before and before[-1] not in _OUTSIDE) or not (after and after[0].isalnum()):
                return None
        elif not (before and before[-1].isalnum()) or (after and after[0] not in _OUTSIDE):
            return None
        out.append(_EMPHASIS_TAGS[len(run)][0 if opening else 1])
        out.append(after)
    return "".join(out) if len(parts) % 4 == 1 else None  # every opener closed


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
    "img": {"srcset"},  # only to say it is dropped
}


def html_field(renderer: Renderer, text: str) -> tuple[str, tuple[str, ...]]:
    """A `format: html` field: sanitised, with local images bundled like Markdown ones, and the
    `url()`s of its styles and its `[sound:...]`s too."""
    import nh3

    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, names in _HTML_FIELD_EXTRA_ATTRIBUTES.items():
        attributes[tag] = attributes.get(tag, set()) | names

    def check(tag: str, attr: str, value: str) -> str | None:
        return renderer._filter(tag, attr, value, True)

    if text.count("<") > MAX_TAGS and len(_START_TAG.findall(text)) > MAX_TAGS:
        return html.escape(text), (f"more than {MAX_TAGS:,} HTML tags; a card field holds far fewer",)
    renderer._problems, renderer._srcset, renderer._braced = [], False, False
    out = nh3.clean(
        text,
        tags=set(nh3.ALLOWED_TAGS) | _HTML_FIELD_EXTRA_TAGS,
        attributes=attributes,
        attribute_filter=check,
        link_rel=None,
        url_schemes=URL_SCHEMES | {"data"} | _FILTERED_SCHEMES,
    )
    out = renderer._finish(out)
    return out, tuple(renderer._problems)


def sounds(renderer: Renderer, text: str) -> tuple[str, tuple[str, ...]]:
    """The `[sound:...]`s of a field's final HTML checked and bundled (for `format: text`)."""
    renderer._problems, renderer._srcset, renderer._braced = [], False, False
    out = renderer._finish(text)
    return out, tuple(renderer._problems)


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
