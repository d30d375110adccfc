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
