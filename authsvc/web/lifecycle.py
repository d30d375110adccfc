"""What every request goes through around its view: one hook before, one after, one at the end.

The request id and timing (:mod:`.requestlog`), the deadline timer (:mod:`.deadline`) and the
unit of work's end (:mod:`.unit`) are called from one hook each, in a fixed order, instead of
being registered one by one: Flask costs a coroutine check and a call per hook, on the token
path's every request, and one place states the order that matters --

* before: the request id and clock first (every later log record carries the id), then the timer;
* after: the unit of work ends first (a failed commit changes the status), then the log line;
* at the end: the timer stops, then the request id is forgotten.
"""

from __future__ import annotations

from flask import Flask, request

from . import deadline, requestlog, unit


def register(app: Flask, *, deadline_seconds: float) -> None:
    timer = deadline.timer(deadline_seconds)
    if timer is not None:
        deadline.register_errors(app)

    @app.before_request
    def begin() -> None:
        spent_since = request.environ.get(deadline.SPENT_SINCE)
        requestlog.start(spent_since)
        if spent_since is not None:
            raise deadline.DeadlineExceeded()
        if timer is not None:
            timer.start()

    @app.after_request
    def finish(response):
        return requestlog.finish(unit.end(app, response))

    @app.teardown_request
    def close(_exc=None) -> None:
        if timer is not None:
            timer.stop()
        requestlog.forget()
