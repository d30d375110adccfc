"""Rendering the console's pages: templates, statuses, the no-store rule, and failed forms.

A form that a service refuses (a bad name, a conflict, a right the person lacks) is answered by
the page the form lives on, rendered again with the service's message and the service's status
(400, 403, 404, 409), so that the console's statuses are the API's and nothing is half-done:
the unit of work is rolled back before the page is read again.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import make_response, render_template, request

from ...services.errors import ServiceError
from ..unit import unit

#: Rows per page of every console list.
PAGE_SIZE = 50


def page(template: str, *, status: int = 200, no_store: bool = False, **context):
    """A rendered page; ``no_store`` for a page that shows a secret (never kept by any cache)."""
    response = make_response(render_template(f"console/{template}", **context), status)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def refused(exc: ServiceError, again: Callable[..., object]):
    """The form's page again, with the service's message and status (see the module docstring).

    ``again(error=...)`` renders the page; if reading the page is itself refused (the project is
    hidden), that refusal is the answer, through the console's error pages.
    """
    unit().rollback()
    response = make_response(again(error=exc.message))
    response.status_code = exc.http_status
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def page_number() -> int:
    """The ``page`` query parameter (1 for anything that is not a small positive number)."""
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < len(value) < 7 and int(value) > 0 else 1


def form_text(name: str, limit: int = 200) -> str:
    """A form field as text, cut to ``limit`` (services check the grammar and storability)."""
    return request.form.get(name, "")[:limit]


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/projects?q=x``), else None: a ``next``
    parameter must never send a person who just signed in to another site (``//evil``,
    ``/\\evil``, ``https://evil``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 2000:
        return None
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
