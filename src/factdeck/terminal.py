"""Text from untrusted files made safe to print: no escape sequences, no line breaks.

Note ids, deck and note type names read from an old package (or an imported one) go to the
terminal; raw, an ESC or a CSI could move the cursor, retitle the window or hide lines, and a
newline could forge a line of output. Every control and invisible formatting character
(Unicode categories Cc and Cf, and the line and paragraph separators) is shown as a visible
escape instead, like Python's repr: ``\\x1b``, ``\\n``, ``\\u202e``.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
_UNSAFE_IN_JSON = re.compile(_UNSAFE.pattern.replace(r"\x00-\x1f", ""))  # json.dumps escapes C0 itself
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    char = m.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character escaped."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def json_printable(text: str) -> str:
    """JSON text with the characters ``json.dumps(ensure_ascii=False)`` leaves raw escaped too.

    json escapes C0 controls itself; C1 controls and bidirectional overrides it leaves as they
    are. Replacing them by ``\\uXXXX`` keeps the JSON equal in meaning.
    """
    unsafe = _UNSAFE_IN_JSON
    return unsafe.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if unsafe.search(text) else text


def escape_surrogates(text: str) -> str:
    """``text`` with any lone surrogate shown as an escape, so it can be printed or encoded.

    A file name that is not UTF-8 reaches Python with each undecodable byte as a surrogate
    (``\\udcff``); it is shown as ``\\xff``, as Python itself shows such bytes.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(
            c
            if not "\ud800" <= c <= "\udfff"
            else f"\\x{ord(c) - 0xDC00:02x}"
            if c >= "\udc80" and c <= "\udcff"
            else f"\\u{ord(c):04x}"
            for c in text
        )
    return text


def escape_surrogates_data(data: object) -> object:
    """JSON-like ``data`` with every string passed through ``escape_surrogates`` (before json.dumps)."""
    if isinstance(data, str):
        return escape_surrogates(data)
    if isinstance(data, dict):
        return {escape_surrogates_data(k): escape_surrogates_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [escape_surrogates_data(v) for v in data]
    return data
