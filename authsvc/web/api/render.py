"""Request bodies in, JSON and paginated lists out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from flask import jsonify, request, url_for

from ...core.text import storable_copy, unstorable_reason
from ...services.errors import Invalid

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

#: What a field may hold in :func:`body`: a type, or a tuple of types (``(str, type(None))``).
Kind = type | tuple[type, ...]
_KIND_NAMES = {str: "a string", bool: "a boolean", int: "an integer", list: "a list", dict: "an object",
               type(None): "null"}


def json_object(allowed: Iterable[str]) -> dict[str, Any]:
    """The request's JSON object, with only ``allowed`` keys and every text in it storable.

    The one body parser of the API: :func:`body` checks field types on top of it, and the
    endpoints whose fields take several types (a list, a time or null) check those themselves.
    Every string anywhere in the body, keys and nested values included, goes through
    ``core.text``'s rule, so no field can carry a NUL or a lone surrogate to the database.
    """
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the json module gives up on very deep nesting; it is not our 500
        raise Invalid("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Invalid("the request body must be a JSON object")
    allowed = set(allowed)
    for key in data:
        if key not in allowed:
            raise Invalid(f"unknown field {key[:40]!r}", field=_shown(key))
    for key, value in data.items():
        for text in _texts(value):
            reason = unstorable_reason(text)
            if reason is not None:
                where = f"field {key!r}" if text is value else f"field {key!r}: a text in it"
                raise Invalid(f"{where} {reason}", field=key)
    return data


def _shown(key: str) -> str:
    """A field name as an error may echo it (storable, short)."""
    return storable_copy(key, 40)


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included, without recursion (the value may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def body(*, required: dict[str, Kind], optional: dict[str, Kind] | None = None) -> dict[str, Any]:
    """The JSON object in the request, checked field by field (unknown fields are refused).

    A kind is a type or a tuple of types (``(str, type(None))``: a string or null).
    """
    optional = optional or {}
    data = json_object({*required, *optional})
    for key, kind in {**required, **optional}.items():
        if key not in data:
            if key in required:
                raise Invalid(f"field {key!r} is required", field=key)
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if type(data[key]) not in kinds:  # bool is not accepted for int, nor int for bool
            expected = " or ".join(_KIND_NAMES.get(k, f"a {k.__name__}") for k in kinds)
            raise Invalid(f"field {key!r} must be {expected}", field=key)
    return data


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"query parameter {name!r} must be an integer", field=name) from None
    if not low <= value <= high:
        raise Invalid(f"query parameter {name!r} must be between {low} and {high}", field=name)
    return value


def page_args() -> tuple[int, int]:
    """``(page, page_size)`` from the query string, bounded."""
    return _int_arg("page", 1, 1, 1_000_000), _int_arg("page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)


def paginated(items: list[dict], total: int, page: int, page_size: int, endpoint: str, **values):
    """A JSON list with ``X-Total-Count`` and an RFC 8288 ``Link`` header."""
    response = jsonify(items)
    response.headers["X-Total-Count"] = str(total)
    last = max(1, -(-total // page_size))
    links = []
    for rel, number in (("first", 1), ("prev", page - 1), ("next", page + 1), ("last", last)):
        if 1 <= number <= last and not (rel in ("prev", "next") and number == page):
            query = urlencode({"page": number, "page_size": page_size})
            links.append(f'<{url_for(endpoint, **values)}?{query}>; rel="{rel}"')
    response.headers["Link"] = ", ".join(links)
    return response


def created(payload: dict, location: str):
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def no_content():
    return "", 204
