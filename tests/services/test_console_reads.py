"""The service functions the web console added: a page of projects in SQL, a project's images with
their newest tags, a page of the audit log, a pull Secret for a secret just shown, and console
sign-in and session resumption -- each checked against the rule it must agree with."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from authsvc.core.policy import OPERATOR, CredentialKind, Permission, Principal, RobotScope
from authsvc.services import audit, inventory
from authsvc.services.access import accounts, project_pages, projects
from authsvc.services.authn import Throttled
from authsvc.services.authn import session as sessions
from authsvc.services.credentials import personal_tokens, pull_secrets, robots
from authsvc.services.errors import Forbidden, NotFound, Unauthorized
from authsvc.store.models import AuditEvent
from tests.conftest import PASSWORDS


def person(name: str, admin: bool = False) -> Principal:
    return Principal(name, admin, credential=CredentialKind.PASSWORD)


@pytest.fixture
def many(seeded_units):
    """priv (alice, bob), plus 30 public and 30 private projects; bob a member of the even ones."""
    for index in range(60):
        name = f"p{index:02d}"
        seeded_units.run(projects.create_project, OPERATOR, name, public=index < 30, owner="alice")
        if index % 2 == 0:
            seeded_units.run(projects.add_member, OPERATOR, name, "bob", "guest")
    return seeded_units


@pytest.mark.parametrize("who", [person("root", True), person("alice"), person("bob"), person("nobody"),
                                 Principal("robot.p40.ci", robot_scope=RobotScope("p40", frozenset({Permission.PULL})),
                                           credential=CredentialKind.ROBOT_SECRET)])
def test_browse_pages_hold_exactly_what_list_projects_shows(many, who):
    expected = [(p.name, v.role) for p, v in many.run(projects.list_projects, who)]
    seen, offset = [], 0
    while True:
        page, total = many.run(project_pages.browse_projects, who, offset=offset, limit=7)
        assert total == len(expected)
        if not page:
            break
        seen += [(row.name, row.view.role) for row in page]
        offset += 7
    assert seen == expected


def test_browse_searches_by_name_and_counts_repositories_in_one_grouped_query(many):
    envelope = {"events": [
        {"id": f"e{i}", "action": "push", "timestamp": "2026-01-01T00:00:00Z",
         "target": {"repository": repo, "tag": "v1", "digest": "sha256:" + "a" * 64, "size": 10,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json"}, "actor": {"name": "alice"}}
        for i, repo in enumerate(["p01/app", "p01/web", "p11/app"])]}
    many.run(inventory.record_events, envelope)
    page, total = many.run(project_pages.browse_projects, person("bob"), search="1")
    # p01, p10..p19, p21 are public or bob's, p31 (private, odd) is not visible to bob
    names = [row.name for row in page]
    assert "p31" not in names and {"p01", "p10", "p11", "p21"} <= set(names) and total == len(names)
    counts = {row.name: row.repositories for row in page}
    assert counts["p01"] == 2 and counts["p11"] == 1 and counts["p10"] == 0
    page, _ = many.run(project_pages.browse_projects, person("bob"), search="%")
    assert page == []  # LIKE wildcards are searched for literally


def test_project_images_gives_each_repository_its_newest_tags(seeded_units):
    events = []
    for repo in ("priv/a", "priv/b"):
        for day in range(1, 6):
            events.append({"id": f"{repo}-{day}", "action": "push", "timestamp": f"2026-01-0{day}T00:00:00Z",
                           "target": {"repository": repo, "tag": f"t{day}", "digest": "sha256:" + str(day) * 64,
                                      "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": day},
                           "actor": {"name": "bob"}})
    seeded_units.run(inventory.record_events, {"events": events})
    images, total = seeded_units.run(inventory.project_images, person("bob"), "priv", tags_per_repository=3)
    assert total == 2
    assert [(info.name, info.tag_count, [t.name for t in tags]) for info, tags in images] == [
        ("priv/a", 5, ["t5", "t4", "t3"]), ("priv/b", 5, ["t5", "t4", "t3"])]
    assert images[0][1][0].pushed_by == "bob"
    with pytest.raises(NotFound):
        seeded_units.run(inventory.project_images, person("nobody"), "priv")


def test_audit_search_filters_by_project_and_pages_without_counting(seeded_units):
    seeded_units.run(projects.add_member, OPERATOR, "priv", "root", "guest")
    seeded_units.run(projects.create_project, OPERATOR, "privy", public=False, owner="alice")
    seeded_units.run(robots.create, OPERATOR, "priv", "ci", actions="pull", never_expires=True)
    events, more = seeded_units.run(audit.search_events, person("root", True), project="priv", limit=2)
    assert [e.target for e in events] == ["robot.priv.ci", "priv/root"] and more
    events, more = seeded_units.run(audit.search_events, person("root", True), project="priv", offset=2, limit=10)
    assert {e.target for e in events} == {"priv", "priv/bob"} and not more  # never 'privy'
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    assert seeded_units.run(audit.search_events, person("root", True), since=since) == ([], False)
    with pytest.raises(Forbidden):
        seeded_units.run(audit.search_events, person("alice"))


def test_pull_secret_for_a_presented_secret_needs_that_robots_current_secret(units):
    seeded = units
    for name in ("alice", "bob"):
        seeded.run(accounts.create_user, OPERATOR, name, PASSWORDS[name])
    seeded.run(projects.create_project, OPERATOR, "priv", public=False, owner="alice")
    seeded.run(projects.add_member, OPERATOR, "priv", "bob", "developer")
    made = seeded.run(robots.create, OPERATOR, "priv", "ci", actions="pull", never_expires=True)
    secret = seeded.run(pull_secrets.for_presented_secret, person("alice"), "priv", "ci", made.secret,
                        namespace="apps", registry_host="registry.test:5000")
    auth = secret.dockerconfigjson["auths"]["registry.test:5000"]
    assert auth["username"] == "robot.priv.ci" and auth["password"] == made.secret
    assert "namespace: apps" in secret.manifest and "kubernetes.io/dockerconfigjson" in secret.manifest
    encoded = secret.manifest.split(".dockerconfigjson: ")[1].strip()
    assert json.loads(base64.b64decode(encoded)) == secret.dockerconfigjson
    with pytest.raises(Forbidden):  # not the current secret (e.g. one from before a re-key)
        seeded.run(pull_secrets.for_presented_secret, person("alice"), "priv", "ci", made.secret + "x",
                   namespace="apps", registry_host="registry.test:5000")
    with pytest.raises(Forbidden):  # a Developer does not manage robots
        seeded.run(pull_secrets.for_presented_secret, person("bob"), "priv", "ci", made.secret,
                   namespace="apps", registry_host="registry.test:5000")
    with pytest.raises(NotFound):
        seeded.run(pull_secrets.for_presented_secret, person("nobody"), "priv", "ci", made.secret,
                   namespace="apps", registry_host="registry.test:5000")


def test_console_sign_in_takes_only_a_password_and_audits_the_rest(seeded_units):
    identity = seeded_units.run(sessions.sign_in, "bob", PASSWORDS["bob"])
    assert identity.principal.credential is CredentialKind.PASSWORD and identity.user_id
    token = seeded_units.run(personal_tokens.create, OPERATOR, "bob", "ci", expires_in=dt.timedelta(days=1)).token
    robot = seeded_units.run(robots.create, OPERATOR, "priv", "ci", actions="pull", never_expires=True)
    for name, secret in (("bob", token), ("robot.priv.ci", robot.secret), ("bob", "wrong"), ("ghost", "x" * 9)):
        with pytest.raises(Unauthorized) as refused:
            seeded_units.run(sessions.sign_in, name, secret)
        assert refused.value.message == Unauthorized().message
    work = seeded_units.new()
    failures = work.session.query(AuditEvent.actor).filter(AuditEvent.action == "login.failure").all()
    assert sorted(a for (a,) in failures) == ["bob", "bob", "ghost", "robot.priv.ci"]


def test_console_sign_in_is_throttled_with_the_token_endpoints_counter(seeded_units):
    for _ in range(seeded_units.settings.throttle_threshold):
        with pytest.raises(Unauthorized):
            seeded_units.run(sessions.sign_in, "bob", "wrong")
    with pytest.raises(Throttled):
        seeded_units.run(sessions.sign_in, "bob", PASSWORDS["bob"])


def test_resume_ends_with_a_new_password_deactivation_or_deletion(seeded_units):
    identity = seeded_units.run(sessions.sign_in, "bob", PASSWORDS["bob"])
    assert seeded_units.run(sessions.resume, identity.user_id, identity.credential_version).name == "bob"
    seeded_units.run(accounts.set_password, OPERATOR, "bob", "another-pass-1")
    assert seeded_units.run(sessions.resume, identity.user_id, identity.credential_version) is None
    fresh = seeded_units.run(sessions.sign_in, "bob", "another-pass-1")
    seeded_units.run(accounts.update_user, OPERATOR, "bob", is_active=False)
    assert seeded_units.run(sessions.resume, fresh.user_id, fresh.credential_version) is None
    seeded_units.run(accounts.update_user, OPERATOR, "bob", is_active=True)
    # re-activation does not revive it: the deactivation moved the credential version on
    assert seeded_units.run(sessions.resume, fresh.user_id, fresh.credential_version) is None
    again = seeded_units.run(sessions.sign_in, "bob", "another-pass-1")
    seeded_units.run(accounts.delete_user, OPERATOR, "bob")
    assert seeded_units.run(sessions.resume, again.user_id, again.credential_version) is None
