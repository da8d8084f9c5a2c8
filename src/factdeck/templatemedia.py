"""Files a custom note type's templates and CSS name: bundled like field images, under names
Anki keeps.

Anki's import, and its Check Media, keep only the files a field names and those whose names
start with `_` (measured; see ``render.Renderer``): a template's `<img src="logo.png">` or a
style's `url(font.woff2)` names a file no field does. So a file beside the deck is bundled as
`_factdeck-<content hash>.<ext>`, and the reference in the template or CSS written to the
package is rewritten to that name; a file of the deck's media folder keeps its name (a `_`
name is bundled by the folder, as `factdeck import` writes a package's template media). A
reference that names a field (`{{Image}}`) is the note's business, not the template's.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .render import IMAGE_TYPES, SOUND_TYPES, Renderer, _css_string_at, css_urls

FONT_TYPES = {".woff", ".woff2", ".ttf", ".otf", ".eot"}
OTHER_TYPES = {".js", ".css"}  # a template's <script src>, an @import
_SRC = re.compile(r"""<([A-Za-z][A-Za-z0-9]*)[^>]*?\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.S)
_SOUND = re.compile(r"\[sound:(.+?)\]", re.S)
# comments, strings and escapes skipped whole, so that only an `@import` CSS reads as one counts
_IMPORT = re.compile(
    r"""/\*.*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|\\."""
    r"""|@import(?![\w-])(?:\s|/\*.*?\*/)*(?=["'])(("|')(?:(?!\2)[^\\\n]|\\.)*\2?)""",
    re.S | re.I,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Reference:
    start: int  # where the name is written (its span is replaced)
    end: int
    name: str  # as a browser or Anki reads it
    kind: str  # image, sound, file
    replace: str  # how the new name is written: "{}" in place of the name


def template_references(template: str) -> list[Reference]:
    """The local-looking files a template names: `src` attributes and `[sound:...]`."""
    found = []
    for m in _SRC.finditer(template):
        group = next(g for g in (2, 3, 4) if m.group(g) is not None)
        kind = "image" if m.group(1).lower() == "img" else "file"  # a <script>'s, an <audio>'s
        found.append(Reference(m.start(group), m.end(group), html.unescape(m.group(group)), kind, "{}"))
    for m in _SOUND.finditer(template):
        found.append(Reference(m.start(1), m.end(1), html.unescape(m.group(1)), "sound", "{}"))
    return sorted(found, key=lambda r: r.start)


def is_web_address(name: str) -> bool:
    return bool(_SCHEME.match(name)) or name.startswith("//")


def local_names(templates: Iterable[str], css: str) -> tuple[list[str], list[str]]:
    """The files the templates and CSS name (each once), and the web addresses they load:
    what `factdeck import` must find in a package or list under `missing-media`."""
    files: dict[str, None] = {}
    remote: dict[str, None] = {}
    refs = [r for t in templates for r in template_references(t)] + css_references(css)
    for ref in refs:
        name = ref.name
        if not name or "{{" in name or name.startswith("#") or name.lower().startswith("data:"):
            continue
        (remote if is_web_address(name) else files)[name] = None
    return list(files), list(remote)


def css_references(css: str) -> list[Reference]:
    """The files CSS loads: `url(...)`, `src(...)` (fonts of `@font-face` included), and the
    style sheet `@import "x.css"` names by a bare string."""
    found = [
        Reference(start, end, url.strip(" \t\n\r\f"), "file", '"{}"' if bare else 'url("{}")')
        for start, end, url, bare in css_urls(css)
    ]
    for m in _IMPORT.finditer(css):
        if m.group(1) is not None:
            name, end = _css_string_at(css, m.start(1))
            found.append(Reference(m.start(1), end, name.strip(" \t\n\r\f"), "file", '"{}"'))
    return sorted(found, key=lambda r: r.start)


class Bundler:
    """Resolves the references of one note type: the files it bundles, and the problems found."""

    def __init__(
        self, folder: str, media_dir: str | None, missing: Iterable[str] = (), included: bool = False
    ) -> None:
        self.renderer = Renderer(folder, media_dir, missing)
        self.included = included  # a note-type file: the media folders of the decks using it are unknown
        self.media: dict[str, str] = {}  # package name -> path on disk

    def rewrite(self, text: str, refs: list[Reference]) -> tuple[str, list[tuple[int, str]]]:
        """``text`` with each bundled file's new name, and (offset, problem) for the others."""
        problems: list[tuple[int, str]] = []
        parts, pos = [], 0
        for ref in refs:
            target, problem = self._target(ref)
            if problem:
                problems.append((ref.start, problem))
            if target is not None and target != ref.name:
                parts += [text[pos : ref.start], ref.replace.format(target)]
                pos = ref.end
        parts.append(text[pos:])
        return "".join(parts), problems

    def _target(self, ref: Reference) -> tuple[str | None, str]:
        name = ref.name
        if not name or "{{" in name or name.startswith("#") or name.lower().startswith("data:"):
            return None, ""
        if name in self.renderer.folder_media:
            return name, ""  # the media folder's file, bundled as named, or one under `missing-media`
        if is_web_address(name):
            if ref.kind != "sound":
                return None, ""  # kept as written, as in fields: Anki loads it, the preview shows where
            return None, (
                f"`{name}` is a web address: Anki plays only sound files in its media folder; "
                "put the file beside the deck file and name it relative to it"
            )
        if self.included and name.startswith("_") and "/" not in name and not self._beside(name):
            return name, ""  # for the media folders of the decks that include this file
        types = {"image": IMAGE_TYPES, "sound": SOUND_TYPES}.get(
            ref.kind, IMAGE_TYPES | FONT_TYPES | SOUND_TYPES | OTHER_TYPES
        )
        bundled, problems = self.renderer.bundle(name, ref.kind, types, url=ref.kind != "sound")
        if bundled is not None:
            self.media[bundled] = self.renderer.media[bundled]
        return bundled, "; ".join(problems)

    def _beside(self, name: str) -> bool:
        return os.path.lexists(os.path.join(self.renderer.root, name))
