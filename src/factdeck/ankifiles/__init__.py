"""Everything that reads or writes Anki's files: packages, collections, their zip and media.

The rest of factdeck works on its own model; only this subpackage knows Anki's formats.
"""
