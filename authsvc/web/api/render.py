"""Request bodies in, JSON and paginated lists out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import jsonify, request, url_for

from ...services.errors import Invalid

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def body(*, required: dict[str, type], optional: dict[str, type] | None = None) -> dict[str, Any]:
    """The JSON object in the request, checked field by field (unknown fields are refused)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the json module gives up on very deep nesting; it is not our 500
        raise Invalid("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Invalid("the request body must be a JSON object")
    optional = optional or {}
    for key in data:
        if key not in required and key not in optional:
            raise Invalid(f"unknown field {key[:40]!r}", field=key[:40])
    for key, kind in {**required, **optional}.items():
        if key not in data:
            if key in required:
                raise Invalid(f"field {key!r} is required", field=key)
            continue
        if type(data[key]) is not kind:  # bool is not accepted for int, nor int for bool
            raise Invalid(f"field {key!r} must be a {kind.__name__ if kind is not str else 'string'}",
                          field=key)
        if kind is str and not _storable(data[key]):
            raise Invalid(f"field {key!r} must not contain NUL characters or unpaired surrogates",
                          field=key)
    return data


def _storable(text: str) -> bool:
    """JSON may spell a lone surrogate (``"\\ud800"``) or a NUL; no database column takes either
    (SQLite cannot encode the first, PostgreSQL refuses the second), and no valid name has them."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
