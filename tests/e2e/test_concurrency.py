"""Many token clients at once, while administrators write: no errors, no lost writes.

authsvc runs under gunicorn with the production ``config/gunicorn.conf.py`` and ``-w 4``, on
the e2e database (a SQLite file in WAL mode with a busy timeout; with TEST_DATABASE_URL, as in
tests/run's second pass, a PostgreSQL database of its own).  For ``duration(60, 15)`` seconds
(CONCURRENCY_SECONDS overrides; 60 s under CI=true):

* 200 client threads, each on its own keep-alive HTTP connection, send token requests as fast
  as they are answered: Basic-credential GETs for one to three scopes, refresh-token POSTs,
  anonymous pulls and wrong passwords against one dedicated account from 200 different source
  addresses (``proxy_hops = 1`` and X-Forwarded-For, as behind a load balancer);
* two threads run the real ``authsvc`` CLI back to back (user create, project create, member
  add, set-role, user update --inactive, project set-visibility), each command a new process
  writing to the same database.

Then it must hold that:

* no token request failed: not one 5xx, connection error or timeout; the right password, the
  refresh token and the anonymous caller always got 200 with exactly the expected ``sub`` and
  ``access`` (requested ∩ permitted); the wrong password only ever 401 or 429 -- the throttle
  counts per (account, source), so the account's owner, logging in from elsewhere meanwhile,
  is never refused;
* no CLI command failed, and every write a command acknowledged is there afterwards (read
  back with ``authsvc user list --json``, ``project list --json`` and the REST API's member
  lists);
* no write the token endpoint made was lost: one ``token.grant`` audit row per 200 of this
  run once gunicorn has stopped (grants are written in batches, the last one at exit),
  traffic, and one ``login.failure`` row per 401 for the attacked account;
* SQLite: ``PRAGMA integrity_check`` is ``ok`` and no foreign key is violated.

Its own server rather than the session's stack: four workers under a load that would slow every
other test sharing them, on a database whose rows it counts afterwards.

The throughput and latencies are printed (``pytest -s`` shows them; ``-rA`` too).
"""

from __future__ import annotations

import pytest

from .load import CliWriter, Population, TokenLoad, duration, private_database, start_server, verify_model

pytestmark = [pytest.mark.e2e, pytest.mark.database]  # locking and lost writes are the database's

CLIENTS = 200
WORKERS = 4
MARKER = "concurrency-test"


@pytest.fixture
def server(e2e_root):
    root = e2e_root / "concurrency"
    with private_database(root) as url:
        running = start_server(root, database_url=url, workers=WORKERS, settings={"proxy_hops": 1})
        try:
            yield running
        finally:
            running.stop()


def test_200_token_clients_and_concurrent_cli_writes(server):
    population = Population.seed(server)
    seconds = duration(60, 15)
    load = TokenLoad(server.auth_port, population, CLIENTS, marker=MARKER)
    writers = [CliWriter(server, "cli-a"), CliWriter(server, "cli-b")]
    for writer in writers:
        writer.start()
    load.run_for(seconds)
    for writer in writers:
        writer.stop()

    outcomes = load.between()
    backend = "PostgreSQL" if server.database_url else "SQLite"
    cli_seconds = sorted(s for w in writers for s in w.seconds)
    report = (f"[{backend}, gunicorn -w {WORKERS}] {load.summary(outcomes)}\n"
              f"CLI: {sum(w.acknowledged for w in writers)} acknowledged writes by {len(writers)} writers, "
              f"{len(cli_seconds)} commands, median {cli_seconds[len(cli_seconds) // 2]:.2f} s, "
              f"max {cli_seconds[-1]:.2f} s per command")
    print("\n" + report)

    errors = load.server_errors(outcomes) + load.connection_errors(outcomes)
    assert not errors, f"{len(errors)} token requests failed\n{load.explain(errors)}\n{report}\n{server.log_tail(20)}"
    wrong = load.problems(outcomes)
    assert not wrong, f"{len(wrong)} wrong answers\n{load.explain(wrong)}\n{report}"
    for kind in ("basic", "refresh", "anonymous"):
        assert sum(1 for o in outcomes if o.kind == kind and o.status == 200) > 0, report
    assert any(o.kind == "wrong" and o.status == 429 for o in outcomes), f"the throttle never engaged\n{report}"

    failures = [f for w in writers for f in w.failures]
    assert not failures, f"{len(failures)} CLI commands failed under load:\n" + "\n\n".join(failures[:3])
    assert all(w.acknowledged >= 3 for w in writers), report
    lost = verify_model(server, [w.model for w in writers])
    assert not lost, "acknowledged CLI writes are missing:\n" + "\n".join(lost[:20])

    # Failed logins are written with their request: all there while the service still runs.
    refused = sum(1 for o in outcomes if o.kind == "wrong" and o.status == 401)
    failures_logged = server.sql("SELECT count(*) FROM audit_events WHERE action = 'login.failure' AND actor = :a",
                                 a=population.outsider.name)[0][0]
    assert failures_logged == refused, f"{refused} wrong passwords were refused with 401, {failures_logged} logged"

    # Token grants are written in batches (services/grant_log.py); a graceful stop writes the rest.
    server.stop()
    grants = sum(1 for o in outcomes if o.status == 200)
    logged = server.sql("SELECT count(*) FROM audit_events WHERE action = 'token.grant' AND details LIKE :m",
                        m=f'%"client":"{MARKER}"%')[0][0]
    assert logged == grants, f"{grants} tokens were granted but {logged} grants are in the audit log"
    assert server.integrity_problems() == []
