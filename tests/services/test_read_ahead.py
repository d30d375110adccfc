"""One round trip for a token request (store/queries.py, ``reading_ahead``): the credential's
statement brings the named projects along, the decision's read takes them, and what both return
is exactly what the two separate statements return -- for every kind of credential, every way a
role is held (own, through a group, none), missing and public projects, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from authsvc.core.credential_secrets import digest
from authsvc.core.policy import OPERATOR, Principal
from authsvc.services.access import accounts, project_groups, projects
from authsvc.services.authn.identity import Identity
from authsvc.services.credentials import personal_tokens, refresh_tokens, robots
from authsvc.store import queries
from authsvc.store.models import User
from authsvc.store.reads import KeptConnectionReads

NAMES = {"priv", "pub", "team", "missing"}


class CountingReads:
    """The reads of a request, counted: each ``rows`` call is one statement (a round trip)."""

    def __init__(self, inner):
        self.inner, self.statements = inner, 0

    def rows(self, statement, params):
        self.statements += 1
        return self.inner.rows(statement, params)


@pytest.fixture
def world(seeded_units):
    """priv (private: bob developer), pub (public), team (private: bob guest, and the groups
    'ops' maintainer and 'devs' developer); bob is a directory person, carol a local one in no
    project, and robots of priv."""
    units = seeded_units
    units.run(accounts.create_user, OPERATOR, "carol", "carol-password-1")
    units.run(projects.create_project, OPERATOR, "pub", public=True, owner="alice")
    units.run(projects.create_project, OPERATOR, "team", public=False, owner="alice")
    units.run(projects.add_member, OPERATOR, "team", "bob", "guest")
    units.run(project_groups.add_group_member, OPERATOR, "team", "ops", "maintainer")
    units.run(project_groups.add_group_member, OPERATOR, "team", "devs", "developer")
    units.run(robots.create, OPERATOR, "priv", "ci", actions="pull", expires_at=dt.datetime(2099, 1, 1))
    with units.engine.begin() as connection:
        connection.execute(update(User.__table__).where(User.__table__.c.name == "bob").values(source="ldap"))
    return units


@pytest.fixture
def kept(world):
    return KeptConnectionReads(world.engine)


def _both(kept, read, user_id_of, groups=frozenset(), names=NAMES):
    """(row, views) read ahead in one statement, and the same read as two statements."""
    ahead = CountingReads(kept)
    reads = queries.reading_ahead(ahead, names)
    row = read(reads)
    views = queries.project_views(reads, user_id_of(row), names, groups)
    assert ahead.statements == 1, "the credential's statement must bring the projects along"
    plain = CountingReads(kept)
    row_plain = read(plain)
    views_plain = queries.project_views(plain, user_id_of(row_plain), names, groups)
    assert plain.statements == 2
    return (row, views), (row_plain, views_plain)


@pytest.mark.parametrize("groups", [frozenset(), frozenset({"ops"}), frozenset({"devs", "ops", "nobody"})])
def test_a_password_read_brings_the_projects_with_own_and_group_roles(kept, groups):
    ahead, plain = _both(kept, lambda r: queries.user_with_counter(r, "bob", "192.0.2.1"), lambda row: row.id, groups)
    assert tuple(ahead[0]) == tuple(plain[0]) and ahead[0]._fields == plain[0]._fields
    assert ahead[1] == plain[1]
    expected_team = {frozenset(): "guest", frozenset({"ops"}): "maintainer"}.get(groups, "maintainer")
    assert ahead[1]["team"].role.value == expected_team
    assert ahead[1]["priv"].role.value == "developer" and ahead[1]["pub"].role is None and "missing" not in ahead[1]


def test_a_caller_without_groups_takes_no_role_from_the_projects_groups(kept):
    ahead, plain = _both(kept, lambda r: queries.user_with_counter(r, "carol", ""), lambda row: row.id)
    assert ahead[1] == plain[1] and all(view.role is None for view in ahead[1].values())


def test_the_throttle_counter_comes_along_as_before(world, kept):
    from authsvc.services.authn import NameAndSecret
    from authsvc.services.errors import Unauthorized
    work = world.new(source="192.0.2.9")
    with pytest.raises(Unauthorized):
        work.context.authenticator.authenticate(work, NameAndSecret("carol", "wrong-guess"))
    work.rollback()
    ahead, plain = _both(kept, lambda r: queries.user_with_counter(r, "carol", "192.0.2.9"), lambda row: row.id)
    assert ahead[0].failures == plain[0].failures == 1 and ahead[0].blocked_until == plain[0].blocked_until


def test_a_refresh_token_read_brings_the_projects(world, kept):
    bob = queries.user_by_name(kept, "bob")
    with world.new().committing() as work:
        token = refresh_tokens.issue(work, Identity(Principal("bob"), "password", bob.id, bob.credential_version), "")
    ahead, plain = _both(kept, lambda r: queries.refresh_token_owner(r, digest(token)), lambda row: row.id,
                         frozenset({"devs"}))
    assert tuple(ahead[0]) == tuple(plain[0]) and ahead[1] == plain[1]
    assert ahead[1]["team"].role.value == "developer"


def test_a_personal_token_read_brings_the_projects(world, kept):
    with world.new().committing() as work:
        created = personal_tokens.create(work, OPERATOR, "alice", "laptop",
                                         expires_in=dt.timedelta(days=1))
    ahead, plain = _both(kept, lambda r: queries.personal_token_owner(r, digest(created.token)), lambda row: row.id)
    assert tuple(ahead[0]) == tuple(plain[0]) and ahead[1] == plain[1]
    assert {name: view.role.value for name, view in ahead[1].items()} == {
        "priv": "admin", "pub": "admin", "team": "admin"}


def test_a_robot_read_brings_the_projects_as_nobody_holds_them(kept):
    ahead, plain = _both(kept, lambda r: queries.robot_by_login(r, "priv", "ci"), lambda row: None)
    assert tuple(ahead[0]) == tuple(plain[0]) and ahead[1] == plain[1]
    assert {name: view.is_public for name, view in ahead[1].items()} == {"priv": False, "pub": True, "team": False}


def test_an_unknown_credential_reads_once_and_leaves_nothing_for_another_caller(kept):
    counting = CountingReads(kept)
    reads = queries.reading_ahead(counting, NAMES)
    assert queries.user_with_counter(reads, "nobody", "") is None
    assert queries.project_views(reads, None, NAMES) == queries.project_views(kept, None, NAMES)
    assert counting.statements == 2


def test_what_was_read_ahead_serves_only_the_same_caller_and_names_once(kept):
    counting = CountingReads(kept)
    reads = queries.reading_ahead(counting, NAMES)
    bob = queries.user_with_counter(reads, "bob", "")
    # Another caller, or other names, are read from the database: the kept views are not theirs.
    assert queries.project_views(reads, bob.id + 1000, NAMES) == queries.project_views(kept, bob.id + 1000, NAMES)
    assert queries.project_views(reads, bob.id, NAMES) == queries.project_views(kept, bob.id, NAMES)
    assert counting.statements == 3
    # A second credential read in the same request (a refusal's claimed name) is a plain one.
    assert tuple(queries.user_with_counter(reads, "bob", "")) == tuple(bob)
    assert counting.statements == 4


def test_more_names_than_one_statement_takes_are_read_as_before(kept):
    names = {f"p{i}" for i in range(queries.VIEWS_CHUNK + 1)} | {"priv"}
    counting = CountingReads(kept)
    reads = queries.reading_ahead(counting, names)
    bob = queries.user_with_counter(reads, "bob", "")
    assert queries.project_views(reads, bob.id, names) == queries.project_views(kept, bob.id, names)
    assert counting.statements == 3  # the user, then two chunks of names


def test_a_role_changed_between_requests_is_seen_by_the_next_read_ahead(world, kept):
    """Nothing is kept across requests: each request's statement reads what is committed now."""
    def team_role():
        reads = queries.reading_ahead(kept, {"team"})
        bob = queries.user_with_counter(reads, "bob", "")
        role = queries.project_views(reads, bob.id, {"team"})["team"].role
        return role.value if role else None
    assert team_role() == "guest"
    world.run(projects.set_role, OPERATOR, "team", "bob", "developer")
    assert team_role() == "developer"
    world.run(projects.remove_member, OPERATOR, "team", "bob")
    assert team_role() is None
