"""factdeck: flashcards as plain YAML, compiled into Anki packages that update in place."""

__version__ = "0.1.0"
