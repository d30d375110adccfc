"""The request deadline turns a database that stops answering into a prompt 503."""

import time

from sqlalchemy import event

from authsvc.store.models import db
from tests.conftest import make_app
from tests.support.http import basic


def test_a_hung_query_is_abandoned_with_503(tmp_path):
    app = make_app(tmp_path, request_deadline=1)
    client = app.test_client()
    with app.app_context():
        engine = db.engine

    def hang(*_args):
        time.sleep(30)  # a query that never comes back; the deadline must cut it short

    event.listen(engine, "before_cursor_execute", hang)
    try:
        start = time.monotonic()
        response = client.get("/token?service=registry", headers=basic("bob", "whatever-1"))
        elapsed = time.monotonic() - start
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.get_json()["errors"][0]["code"] == "UNAVAILABLE"
        assert elapsed < 5, elapsed
        assert client.get("/readyz").status_code == 503
    finally:
        event.remove(engine, "before_cursor_execute", hang)
    assert client.get("/readyz").status_code == 200  # the database answers again: so do we


def test_a_forked_worker_installs_its_own_alarm_handler():
    """The timer's handler is installed once per process, by a process id a fork hook keeps: a
    worker forked from a process that already armed it must install its own (gunicorn forks)."""
    import os
    import signal

    from authsvc.web import deadline
    timer = deadline.Timer(30)
    timer.start()
    timer.stop()
    assert timer._installed_in == os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        timer.start()
        timer.stop()
        os._exit(0 if timer._installed_in == os.getpid()
                 and signal.getsignal(signal.SIGALRM) is deadline._expire else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
