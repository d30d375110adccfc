"""Which texts can be stored: the one check every storable string field goes through.

Why one function: a text reaches the database from the REST API (JSON may spell a lone
surrogate ``"\\ud800"`` or a NUL), from the CLI (an argument that is not valid UTF-8 arrives
as surrogate escapes) and from the registry's notifications.  No column takes either
character — SQLite cannot encode an unpaired surrogate, PostgreSQL refuses a NUL — so such a
text would end in a 500 (or, on PostgreSQL, a misleading "database unavailable") instead of a
clear refusal.  Every front end and service asks :func:`unstorable_reason` (or one of the two
helpers built on it), so they all refuse the same texts with the same words.

Pure: no Flask, no SQL.
"""

from __future__ import annotations

#: The longest free text any field takes (a password of 4096 bytes is at most 4096 characters);
#: fields with a smaller column pass their own bound.
MAX_TEXT_LENGTH = 4096


class UnstorableText(ValueError):
    """A text that cannot be stored; the message names the field and says why."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def unstorable_reason(text: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Why ``text`` cannot be stored (a phrase fit to follow a field's name), or None if it can."""
    if not isinstance(text, str):
        return "must be a string"
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates (it is not valid Unicode text)"
    return None


def check_storable(text: str | None, field: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """``text`` unchanged if it can be stored (None passes: an absent optional field), else
    :class:`UnstorableText` naming ``field``."""
    if text is None:
        return None
    reason = unstorable_reason(text, max_length)
    if reason is not None:
        raise UnstorableText(f"field {field!r} {reason}", field)
    return text


def storable_copy(text: str, max_length: int) -> str:
    """``text`` made storable for a record that must never be refused (an audit event's target):
    NULs and unpaired surrogates are written as ``\\uXXXX`` and the result cut to ``max_length``.
    A text :func:`unstorable_reason` accepts comes back unchanged (apart from the cut)."""
    if unstorable_reason(text, len(text)) is not None:
        text = "".join(f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)
    return text[:max_length]
