"""Text the databases can store.

PostgreSQL refuses a NUL character in text (and would report it as a driver error), and
neither back end can encode an unpaired UTF-16 surrogate, which a JSON `\\ud800` escape
produces, as UTF-8. Input carrying either is refused where it enters, as a validation error
naming the field, instead of failing in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

UNSTORABLE_MESSAGE: Final = "must not contain NUL characters or unpaired surrogates"


def is_storable(text: str) -> bool:
    """True when both databases can store `text` as it is."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def holds_unstorable_text(value: object) -> bool:
    """True when `value`, or any string inside it (lists, tuples, mappings and their keys),
    is text the databases cannot store."""
    if isinstance(value, str):
        return not is_storable(value)
    if isinstance(value, Mapping):
        return any(holds_unstorable_text(k) or holds_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_unstorable_text(item) for item in value)
    return False
