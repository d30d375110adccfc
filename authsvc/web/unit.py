"""Each HTTP request is one unit of work, which this module opens, commits or rolls back.

The view asks for :func:`unit` and passes it to every service it calls; the
services never commit.  After the view, a successful answer (below 400)
commits the unit -- a commit that fails is answered like the same failure in
a service (409 for a lost race, 503 for an unavailable database) -- and any
other answer rolls it back, so a refused request leaves nothing behind but
what a verifier wrote on purpose: its early write (:meth:`UnitOfWork.write_now`)
and the lasting writes that early write committed first (:meth:`UnitOfWork.lasting`).
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from ..services.unit_of_work import UnitOfWork
from ..store.models import db

#: Kept in the WSGI environ, not in ``g``: ``g`` lives as long as the app context, and requests
#: served inside one already pushed (the test client in a fixture, a script) would share it.
_KEY = "authsvc.unit"


def unit(*, kept_connection: bool = False) -> UnitOfWork:
    """This request's unit of work (made on first use).  ``kept_connection``: its reads run on the
    connection the worker keeps (store/reads.py) -- the token endpoint's, which reads before it
    writes anything and must be fast."""
    environ = request.environ
    found = environ.get(_KEY)
    if found is None:
        context = current_app.extensions["authsvc"]
        reads = context.kept_reads(db.engine) if kept_connection else None
        found = environ[_KEY] = UnitOfWork(context, db.session, source=request.remote_addr or "",
                                           request_id=g.get("request_id"), reads=reads)
    return found


def end(app: Flask, response):
    """After the view: commit the unit below 400, roll it back otherwise (web/lifecycle.py calls
    this before the request log, which then logs the status the commit produced)."""
    found = request.environ.pop(_KEY, None)
    if found is None:
        return response
    if response.status_code >= 400:
        found.rollback()
        return response
    try:
        found.commit()
    except Exception as exc:  # noqa: BLE001 - answered by the registered error handlers
        found.rollback()
        return app.make_response(app.handle_user_exception(exc))
    return response
