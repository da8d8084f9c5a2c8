"""Writing deck files as a person would: block mappings, one-line tag lists, multi-line text
as literal blocks, every string quoted exactly when YAML needs it.

PyYAML's emitter does the quoting (it is the same library that reads the files back); this
module only chooses styles. Aliases are never written: factdeck rejects none, but a deck file
should read top to bottom.
"""

from __future__ import annotations

from typing import Any

import yaml

try:  # libyaml: an imported deck of 100,000 notes is written in seconds, not minutes
    from yaml import CSafeDumper as _Base
except ImportError:  # pragma: no cover - pure-Python fallback
    # the stubs type CSafeDumper and SafeDumper as unrelated classes; both are a safe dumper
    from yaml import SafeDumper as _Base  # type: ignore[assignment]


class Flow(list[str]):
    """A list written on one line: `tags: [a, b]`."""


class _Dumper(_Base):
    def ignore_aliases(self, data: object) -> bool:
        return True


def _text(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # the emitter falls back to quotes when | cannot hold it
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow(dumper: _Dumper, value: Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(Flow, _flow)


def dump(data: Any) -> str:
    """``data`` (dicts in their own order, lists, strings) as YAML text."""
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,  # never fold a long line: a field's text stays on the lines it had
        indent=2,
    )
    return text
