"""The repository inventory through the Flask test client: POST /registry/events, then /api/v1 reads.

Envelopes are shaped as distribution 2.8.2 sends them (recorded from the real registry: one event
per request, nanosecond timestamps, ``application/vnd.docker.distribution.events.v1+json``;
a manifest delete is a ``{digest, repository}`` event followed by a ``{repository, tag}`` event per
tag that pointed to it).  Every /api/v1 response is validated against openapi.json by the ``Api``
helper (tests/support/api.py), and the expected statuses are written by hand from the rule: the
repositories of a project are visible exactly when the project is.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from sqlalchemy import func, select

from authsvc.store.models import NotificationEvent, Repository, Tag, db
from tests.conftest import make_app
from tests.support.api import ANON, CALLER_IDS, CALLERS, Api, assert_status

SECRET = "registry-events-secret-0123"
EVENTS_TYPE = "application/vnd.docker.distribution.events.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
T0 = "2026-01-01T10:00:00.123456789Z"
T1 = "2026-01-01T11:00:00.5Z"
T2 = "2026-01-01T12:00:00Z"


@pytest.fixture
def app(tmp_path):
    """conftest's app, with the notification endpoint enabled (``client`` and ``seeded`` use this)."""
    application = make_app(tmp_path, notification_secret=SECRET)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def api(app, client, seeded):
    return Api(app, client)


def event(action: str, repository: str, *, tag: str | None = None, digest: str | None = None,
          media_type: str | None = OCI_MANIFEST, size: int | None = 418, actor: str = "alice", at: str = T0,
          blob: bool = False) -> dict:
    """One event as the registry writes it: push/pull/mount carry a descriptor and a URL; a delete
    carries only the digest or the tag."""
    target: dict = {"repository": repository}
    if action == "delete":
        target.update({k: v for k, v in (("digest", digest), ("tag", tag)) if v})
    else:
        kind = "blobs" if blob else "manifests"
        target.update({"mediaType": "application/octet-stream" if blob else media_type, "digest": digest,
                       "size": size, "length": size,
                       "url": f"http://127.0.0.1:5000/v2/{repository}/{kind}/{digest}"})
        if tag:
            target["tag"] = tag
    return {"id": str(uuid.uuid4()), "timestamp": at, "action": action, "target": target,
            "request": {"id": str(uuid.uuid4()), "addr": "127.0.0.1:50000", "host": "127.0.0.1:5000",
                        "method": "DELETE" if action == "delete" else "PUT", "useragent": "skopeo/1.9.3"},
            "actor": {"name": actor} if actor else {},
            "source": {"addr": "registry:5000", "instanceID": str(uuid.uuid4())}}


def post(client, *events, secret: str | None = SECRET, body: bytes | None = None, headers=None):
    sent = {"Content-Type": EVENTS_TYPE}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    sent.update(headers or {})
    data = body if body is not None else json.dumps({"events": list(events)}, indent=3)
    return client.post("/registry/events", data=data, headers=sent)


def accepted(response, **counts) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    summary = response.get_json()
    for key, value in counts.items():
        assert summary[key] == value, summary
    return summary


def repos(api, project: str, who="root") -> dict[str, int]:
    response = api.get(f"/projects/{project}/repositories", who, query={"page_size": 100})
    assert_status(response, 200)
    return {r["name"]: r["tags"] for r in response.get_json()}


def tags(api, repository: str, who="root") -> dict[str, dict]:
    project, _, path = repository.partition("/")
    response = api.get(f"/projects/{project}/repositories/{path}/tags", who, query={"page_size": 100})
    if response.status_code == 404:
        return None
    assert_status(response, 200)
    return {t["name"]: t for t in response.get_json()}


# --- pushes ------------------------------------------------------------------------------------

def test_a_tagged_push_lists_the_repository_and_the_tag(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1, size=418, actor="bob")), applied=1)
    assert repos(api, "pub") == {"pub/app": 1}
    assert tags(api, "pub/app") == {"v1": {
        "name": "v1", "digest": D1, "media_type": OCI_MANIFEST, "size": 418, "pushed_by": "bob",
        "pushed_at": "2026-01-01T10:00:00Z"}}
    assert api.get("/projects/pub/repositories", "root").get_json()[0]["updated_at"] == "2026-01-01T10:00:00Z"


@pytest.mark.parametrize("child_type, top_type", [(OCI_MANIFEST, OCI_INDEX), (DOCKER_MANIFEST, DOCKER_LIST)],
                         ids=["oci-index", "docker-manifest-list"])
def test_an_index_is_its_children_by_digest_then_the_index_by_tag(api, client, child_type, top_type):
    # What `skopeo copy --all` of a one-platform index makes the registry send (blob pushes too).
    accepted(post(client, event("push", "pub/multi", digest=D3, blob=True, size=126)), ignored=1, applied=0)
    accepted(post(client, event("push", "pub/multi", digest=D1, media_type=child_type, size=423)), applied=1)
    assert repos(api, "pub") == {"pub/multi": 0}  # a manifest by digest: the repository, no tag
    accepted(post(client, event("push", "pub/multi", tag="multi", digest=D2, media_type=top_type, size=317)),
             applied=1)
    assert {name: (t["digest"], t["media_type"], t["size"]) for name, t in tags(api, "pub/multi").items()} == {
        "multi": (D2, top_type, 317)}


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST,
                                        "application/vnd.docker.distribution.manifest.v1+prettyjws"])
def test_every_manifest_media_type_is_kept_as_sent(api, client, media_type):
    accepted(post(client, event("push", "priv/app", tag="t", digest=D1, media_type=media_type)), applied=1)
    assert tags(api, "priv/app")["t"]["media_type"] == media_type


def test_pulls_mounts_and_blob_pushes_change_nothing(api, client):
    summary = accepted(post(client,
                            event("push", "pub/app", digest=D1, blob=True),
                            event("mount", "pub/app", digest=D1, blob=True),
                            event("pull", "pub/app", digest=D1, blob=True),
                            event("pull", "pub/app", tag="v1", digest=D2)))
    assert summary == {"events": 4, "applied": 0, "duplicates": 0, "ignored": 4, "skipped": 0}
    assert repos(api, "pub") == {}


def test_a_retag_moves_the_tag_and_a_late_older_push_does_not_move_it_back(api, client):
    accepted(post(client, event("push", "pub/app", tag="latest", digest=D1, at=T0, actor="bob")), applied=1)
    accepted(post(client, event("push", "pub/app", tag="latest", digest=D2, at=T2, actor="dave")), applied=1)
    late = event("push", "pub/app", tag="latest", digest=D3, at=T1, actor="alice")  # from a slower registry
    accepted(post(client, late), applied=1)
    latest = tags(api, "pub/app")["latest"]
    assert (latest["digest"], latest["pushed_by"], latest["pushed_at"]) == (D2, "dave", "2026-01-01T12:00:00Z")


def test_sizes_and_actors_the_registry_may_leave_out(api, client):
    anonymous = event("push", "pub/app", tag="v1", digest=D1, actor="")
    anonymous["target"].pop("size")
    anonymous["target"].pop("length")
    no_time = event("push", "pub/app", tag="v2", digest=D2)
    no_time.pop("timestamp")
    accepted(post(client, anonymous, no_time), applied=2)
    listed = tags(api, "pub/app")
    assert listed["v1"]["size"] is None and listed["v1"]["pushed_by"] == ""
    assert listed["v2"]["pushed_at"] >= "2026"  # missing timestamp: the time it arrived


# --- idempotency and retries ---------------------------------------------------------------------

def test_a_replayed_envelope_changes_nothing(api, client):
    batch = [event("push", "pub/app", tag="v1", digest=D1), event("push", "pub/app", tag="v2", digest=D2)]
    accepted(post(client, *batch), applied=2, duplicates=0)
    before = tags(api, "pub/app")
    accepted(post(client, *batch), applied=0, duplicates=2)
    assert tags(api, "pub/app") == before
    assert db.session.execute(select(func.count()).select_from(NotificationEvent)).scalar() == 2


def test_a_push_replayed_after_its_delete_does_not_resurrect_the_tag(api, client):
    push = event("push", "pub/app", tag="v1", digest=D1, at=T0)
    accepted(post(client, push), applied=1)
    accepted(post(client, event("delete", "pub/app", digest=D1, at=T1)), applied=1)
    assert tags(api, "pub/app") is None
    accepted(post(client, push), duplicates=1)  # the registry never saw our first 200
    assert repos(api, "pub") == {}


def test_old_event_ids_are_forgotten_after_a_week(app, client):
    from authsvc.services import inventory
    from authsvc.store.models import utcnow
    db.session.add(NotificationEvent(id="ancient", received_at=utcnow() - inventory.SEEN_EVENTS_RETENTION
                                     - inventory.dt.timedelta(minutes=1)))
    db.session.add(NotificationEvent(id="recent", received_at=utcnow()))
    db.session.commit()
    accepted(post(client))
    assert set(db.session.execute(select(NotificationEvent.id)).scalars()) == {"recent"}


# --- deletes -----------------------------------------------------------------------------------

def test_a_manifest_delete_removes_every_tag_on_that_digest_and_no_other(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1), event("push", "pub/app", tag="stable", digest=D1),
                  event("push", "pub/app", tag="v2", digest=D2)), applied=3)
    # As distribution sends it: the manifest, then each tag that pointed to it.
    accepted(post(client, event("delete", "pub/app", digest=D1, at=T1)), applied=1)
    accepted(post(client, event("delete", "pub/app", tag="v1", at=T1), event("delete", "pub/app", tag="stable", at=T1)),
             applied=2)
    assert set(tags(api, "pub/app")) == {"v2"}
    assert repos(api, "pub") == {"pub/app": 1}


def test_the_last_tag_deleted_takes_the_repository_with_it(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1), event("push", "pub/other", tag="v1", digest=D1)))
    accepted(post(client, event("delete", "pub/app", digest=D1, at=T1)), applied=1)
    assert repos(api, "pub") == {"pub/other": 1}  # same digest elsewhere: untouched
    assert_status(api.get("/projects/pub/repositories/app/tags", "root"), 404)


def test_a_tag_delete_and_a_repository_delete(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1), event("push", "pub/app", tag="v2", digest=D2),
                  event("push", "pub/lib", tag="v1", digest=D3)))
    accepted(post(client, event("delete", "pub/app", tag="v1", at=T1)), applied=1)
    assert set(tags(api, "pub/app")) == {"v2"}
    accepted(post(client, event("delete", "pub/lib", at=T1)), applied=1)  # registry 3.x: the whole repository
    assert repos(api, "pub") == {"pub/app": 1}
    accepted(post(client, event("delete", "pub/never-pushed", digest=D1)), applied=1)  # nothing to do, no error


def test_a_delete_older_than_a_repush_keeps_the_repushed_tag(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1, at=T2)))
    accepted(post(client, event("delete", "pub/app", tag="v1", at=T1), event("delete", "pub/app", digest=D1, at=T1)))
    assert set(tags(api, "pub/app")) == {"v1"}


def test_deleting_a_project_takes_its_inventory(api, client):
    accepted(post(client, event("push", "priv/app", tag="v1", digest=D1), event("push", "pub/app", tag="v1", digest=D1)))
    assert_status(api.delete("/projects/priv", "alice"), 204)
    names = set(db.session.execute(select(Repository.name)).scalars())
    assert names == {"pub/app"}
    assert db.session.execute(select(func.count()).select_from(Tag)).scalar() == 1


# --- what is refused, what is skipped ----------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer wrong-secret-wrong-secret"},
    {"Authorization": f"Bearer {SECRET}x"},
    {"Authorization": f"Bearer {SECRET[:-1]}"},
    {"Authorization": f"Basic {SECRET}"},
    {"Authorization": ""},
    {},
], ids=["wrong", "longer", "shorter", "basic", "empty", "none"])
def test_without_the_secret_nothing_is_applied(api, client, headers):
    response = post(client, event("push", "pub/app", tag="v1", digest=D1), secret=None, headers=headers)
    assert response.status_code == 401 and response.get_json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert repos(api, "pub") == {}


def test_the_endpoint_is_off_without_a_configured_secret(tmp_path_factory):
    other = make_app(tmp_path_factory.mktemp("off"))
    response = post(other.test_client(), event("push", "pub/app", tag="v1", digest=D1))
    assert response.status_code == 404 and response.get_json()["errors"][0]["code"] == "NOT_FOUND"
    with other.app_context():
        db.engine.dispose()


def test_bad_events_are_skipped_and_logged_and_the_rest_applied(api, client, caplog):
    good = event("push", "pub/app", tag="v1", digest=D1)
    no_target = event("push", "pub/x", tag="v1", digest=D1)
    no_target.pop("target")
    bad = [
        "not an object",
        {**event("push", "pub/x", tag="v1", digest=D1), "id": None},
        no_target,
        event("push", "pub/x", tag="v1", digest="sha256:not hex!"),
        event("push", "pub/x", tag="-leading-dash", digest=D1),
        event("push", "pub/x", tag="t" * 129, digest=D1),
        event("push", "pub/x\x00", tag="v1", digest=D1),
        {**event("push", "pub/x", tag="v1", digest=D1), "action": ["push"]},
        event("push", "pub/" + "x" * 300, tag="v1", digest=D1),
    ]
    with caplog.at_level(logging.WARNING, logger="authsvc.inventory"):
        summary = accepted(post(client, *bad[:4], good, *bad[4:]))
    assert summary == {"events": 10, "applied": 1, "duplicates": 0, "ignored": 0, "skipped": 9}
    assert repos(api, "pub") == {"pub/app": 1}
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 9


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59.999999999+01:00",
                                "9999-12-31T23:59:59-01:00", "9999-12-31T23:30:00.5-00:31"])
def test_a_timestamp_that_overflows_in_utc_skips_its_event_only(api, client, caplog, at):
    """Finding 8 of the security review: such a timestamp raised OverflowError, the envelope was
    answered 500, and the registry re-sent it for ever, holding back every later event."""
    with caplog.at_level(logging.WARNING, logger="authsvc.inventory"):
        summary = accepted(post(client, event("push", "pub/app", tag="v1", digest=D1),
                                event("push", "pub/bad", tag="v1", digest=D2, at=at),
                                event("push", "pub/app", tag="v2", digest=D2)))
        later = accepted(post(client, event("push", "pub/next", tag="v1", digest=D3, at=T1)))
    assert summary == {"events": 3, "applied": 2, "duplicates": 0, "ignored": 0, "skipped": 1}
    assert later["applied"] == 1
    assert repos(api, "pub") == {"pub/app": 2, "pub/next": 1}
    (skip,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "event 1 skipped" in skip and "timestamp" in skip and "out of range" in skip
    assert SECRET not in caplog.text


def test_events_outside_every_project_are_skipped_with_a_200(api, client, caplog):
    with caplog.at_level(logging.WARNING, logger="authsvc.inventory"):
        summary = accepted(post(client, event("push", "ghost/app", tag="v1", digest=D1),
                                event("push", "toplevel", tag="v1", digest=D1),
                                event("delete", "ghost/app", digest=D1)))
    assert summary == {"events": 3, "applied": 0, "duplicates": 0, "ignored": 0, "skipped": 3}
    assert "no project 'ghost'" in caplog.text
    assert db.session.execute(select(func.count()).select_from(Repository)).scalar() == 0


@pytest.mark.parametrize("body", [b"not json", b'["events"]', b'{"events": {}}', b"{}", b"\xff\xfe\x00"],
                         ids=["text", "list", "events-object", "empty-object", "binary"])
def test_a_body_that_is_no_envelope_is_a_400(client, body):
    response = post(client, body=body)
    assert response.status_code == 400 and response.get_json()["errors"][0]["code"] == "INVALID"


def test_a_big_batch_is_accepted_and_a_huge_body_refused(api, client):
    batch = [event("push", "pub/app", tag=f"v{i}", digest=D1) for i in range(150)]  # ~150 KiB, over the API's 64
    assert len(json.dumps({"events": batch}, indent=3)) > 64 * 1024
    accepted(post(client, *batch), applied=150)
    response = post(client, body=b'{"events": [' + b" " * (1024 * 1024) + b"]}")
    assert response.status_code == 413 and response.get_json()["errors"][0]["code"] == "TOO_LARGE"


def test_registry_3_content_type_and_no_content_type_are_accepted(api, client):
    accepted(post(client, event("push", "pub/app", tag="v1", digest=D1),
                  headers={"Content-Type": "application/vnd.docker.distribution.events.v2+json"}), applied=1)
    accepted(post(client, event("push", "pub/app", tag="v2", digest=D1), headers={"Content-Type": ""}), applied=1)


def test_only_post(client):
    response = client.get("/registry/events", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


# --- reading: the projects' visibility ---------------------------------------------------------

#: Visible exactly when the project is (tests/support/api.py VISIBLE): (pub, priv).
VISIBLE = {"root": (200, 200), "alice": (200, 200), "dave": (200, 200), "bob": (200, 200),
           "carol": (200, 200), "erin": (200, 404), ANON: (200, 404)}
#: pushed_by follows the member list's rule: members and system administrators.
SEES_PUSHER = {"root": True, "alice": True, "dave": True, "bob": True, "carol": True, "erin": False, ANON: False}


@pytest.fixture
def stocked(api, client):
    for project in ("pub", "priv"):
        accepted(post(client, event("push", f"{project}/app", tag="v1", digest=D1, actor="bob"),
                      event("push", f"{project}/team/tool", tag="v1", digest=D2, actor="dave"),
                      event("push", f"{project}/team/tool", tag="v2", digest=D3, actor="dave")), applied=3)
    return api


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_list_repositories(stocked, who, project):
    response = stocked.get(f"/projects/{project}/repositories", who)
    assert_status(response, VISIBLE[who][project == "priv"])
    if response.status_code == 200:
        assert [(r["name"], r["tags"]) for r in response.get_json()] == [
            (f"{project}/app", 1), (f"{project}/team/tool", 2)]
        assert response.headers["X-Total-Count"] == "2"


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_list_tags(stocked, who, project):
    response = stocked.get(f"/projects/{project}/repositories/team/tool/tags", who)
    assert_status(response, VISIBLE[who][project == "priv"])
    if response.status_code == 200:
        body = response.get_json()
        assert [(t["name"], t["digest"]) for t in body] == [("v1", D2), ("v2", D3)]
        assert {t["pushed_by"] for t in body} == ({"dave"} if SEES_PUSHER[who] else {None})


@pytest.mark.parametrize("who", ["erin", ANON], ids=["erin-nonmember", "anonymous"])
@pytest.mark.parametrize("suffix", ["/repositories", "/repositories/app/tags", "/repositories/team/tool/tags"])
def test_a_private_projects_inventory_looks_exactly_like_a_missing_project(stocked, who, suffix):
    hidden = stocked.get(f"/projects/priv{suffix}", who)
    missing = stocked.get(f"/projects/miss{suffix}", who)  # a name as long as 'priv'
    assert_status(hidden, 404)
    assert hidden.get_data(as_text=True).replace("priv", "X") == missing.get_data(as_text=True).replace("miss", "X")
    # Every header alike, but the request id: random per request, it tells nothing.
    assert ({k: v for k, v in hidden.headers if k != "X-Request-ID"}
            == {k: v for k, v in missing.headers if k != "X-Request-ID"})


def test_a_private_inventory_appears_to_a_new_member_and_to_all_when_made_public(stocked):
    assert_status(stocked.get("/projects/priv/repositories", "erin"), 404)
    assert_status(stocked.post("/projects/priv/members", "alice", json={"user": "erin", "role": "guest"}), 201)
    assert_status(stocked.get("/projects/priv/repositories", "erin"), 200)
    assert_status(stocked.patch("/projects/priv", "alice", json={"public": True}), 200)
    assert_status(stocked.get("/projects/priv/repositories/app/tags", ANON), 200)


def test_unknown_repositories_and_wrong_credentials(stocked):
    assert_status(stocked.get("/projects/pub/repositories/nope/tags", "root"), 404)
    assert_status(stocked.get("/projects/pub/repositories/team/tags", "root"), 404)  # a prefix is no repository
    assert_status(stocked.get("/projects/pub/repositories/app/tags", {"Authorization": "Basic Ym9iOndyb25n"}), 401)
    assert_status(stocked.get("/projects/pub/repositories", "root", query={"page_size": 0}), 400)


def test_pages_of_repositories_and_tags(stocked, client):
    accepted(post(client, *[event("push", "pub/many", tag=f"t{i:02}", digest=D1) for i in range(5)]))
    first = stocked.get("/projects/pub/repositories/many/tags", "root", query={"page": 2, "page_size": 2})
    assert [t["name"] for t in first.get_json()] == ["t02", "t03"]
    assert first.headers["X-Total-Count"] == "5"
    assert '</api/v1/projects/pub/repositories/many/tags?page=3&page_size=2>; rel="next"' in first.headers["Link"]
    page = stocked.get("/projects/pub/repositories", "root", query={"page": 2, "page_size": 2})
    assert [r["name"] for r in page.get_json()] == ["pub/team/tool"] and page.headers["X-Total-Count"] == "3"
