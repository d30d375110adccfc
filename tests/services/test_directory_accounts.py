"""Directory accounts against a real slapd (tests/support/slapd.py): sign-in, provisioning, groups
as project members, the throttle and cache in front of the directory, and outages.

Every test uses its own units (database); the directory is the session's, so a test that changes
it (a group membership, an outage) puts it back in ``finally``.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select, update

from authsvc.core.policy import OPERATOR
from authsvc.services import grants
from authsvc.services.access import accounts, project_groups, projects
from authsvc.services.authn import Throttled
from authsvc.services.authn.directory_client import DirectoryUnavailable
from authsvc.services.errors import Conflict, Unauthorized
from authsvc.store.models import AuditEvent, LoginFailure, RefreshToken, User, utcnow
from tests.conftest import PASSWORDS as LOCAL_PASSWORDS
from tests.services.conftest import Units
from tests.support.slapd import PASSWORDS, PEOPLE

DEADLINE = 20.0


@pytest.fixture
def directory_units(tmp_path, slapd):
    made = Units(tmp_path, throttle_base_delay=120, **slapd.settings())
    made.run(accounts.create_user, OPERATOR, "root", LOCAL_PASSWORDS["root"], is_admin=True)
    made.run(accounts.create_user, OPERATOR, "alice", LOCAL_PASSWORDS["alice"])
    made.run(projects.create_project, OPERATOR, "payments", public=False, owner="alice")
    made.run(project_groups.add_group_member, OPERATOR, "payments", "Payments-Dev", "developer")
    yield made
    made.close()


def token(units: Units, name: str, password: str, *scopes: str, source: str = "10.0.0.1", **extra):
    request = grants.TokenRequest(service="registry", scopes=list(scopes), username=name, password=password, **extra)
    return units.run(grants.issue_token, request, source=source)


def actions(grant) -> set[str]:
    return {action for scope in grant.granted for action in scope.actions}


def failures(units: Units) -> int:
    with units.new().committing() as work:
        return sum(work.session.execute(select(LoginFailure.failures)).scalars())


def test_first_sign_in_provisions_a_directory_user_whose_group_role_counts(directory_units):
    grant = token(directory_units, "dana", PASSWORDS["dana"], "repository:payments/api:pull,push")
    assert actions(grant) == {"pull", "push"}
    assert grant.principal.groups == frozenset({"payments-dev"})
    with directory_units.new().committing() as work:
        user = work.session.execute(select(User).where(User.name == "dana")).scalar_one()
        assert (user.source, user.email, user.display_name) == ("ldap", "dana@example.org", "Dana Example")
        assert not user.is_admin and user.password_hash == "!directory"  # no usable hash
    listed = {u.name: u.source for u in directory_units.run(accounts.list_users, OPERATOR)[0]}
    assert listed == {"root": "local", "alice": "local", "dana": "ldap"}
    # grace is in no group: she signs in, and holds nothing on the private project.
    assert actions(token(directory_units, "grace", PASSWORDS["grace"], "repository:payments/api:pull")) == set()


def test_the_highest_of_own_and_group_roles_counts_and_groups_show_in_the_member_list(directory_units):
    token(directory_units, "dana", PASSWORDS["dana"])
    directory_units.run(projects.add_member, OPERATOR, "payments", "dana", "guest")
    # A group dana is not in lends her nothing, however high its role.
    directory_units.run(project_groups.add_group_member, OPERATOR, "payments", "registry-admins", "admin")
    grant = token(directory_units, "dana", PASSWORDS["dana"], "repository:payments/api:pull,push,delete")
    assert actions(grant) == {"pull", "push"}  # developer (group) beats guest (own); no delete
    directory_units.run(project_groups.set_group_role, OPERATOR, "payments", "payments-dev", "maintainer")
    assert actions(token(directory_units, "dana", PASSWORDS["dana"], "repository:payments/api:delete")) == {"delete"}
    members = directory_units.run(project_groups.list_group_members, OPERATOR, "payments")
    assert [(m.group, m.role.value) for m in members] == [("payments-dev", "maintainer"), ("registry-admins", "admin")]
    # The service layer sees the group role too: dana may list the project the token path lets her use.
    with directory_units.new().committing() as work:
        identity = work.context.authenticator.authenticate(
            work, grants.NameAndSecret("dana", PASSWORDS["dana"]))
        visible = [p.name for p, _ in projects.list_projects(work, identity.principal)]
    assert visible == ["payments"]
    directory_units.run(project_groups.remove_group_member, OPERATOR, "payments", "PAYMENTS-DEV")
    assert actions(token(directory_units, "dana", PASSWORDS["dana"], "repository:payments/api:push")) == set()


def test_the_admin_group_makes_system_administrators(directory_units):
    assert token(directory_units, "frank", PASSWORDS["frank"]).principal.is_system_admin
    assert not token(directory_units, "dana", PASSWORDS["dana"]).principal.is_system_admin


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "dana)(uid=*", "dana\x00", "\\00", "dana*", "(uid=dana)",
                                  "DANA*)(|(uid=*"])
def test_an_injected_name_finds_nobody(directory_units, name):
    with pytest.raises(Unauthorized):
        token(directory_units, name, PASSWORDS["dana"])
    with directory_units.new().committing() as work:
        assert work.session.execute(select(User.name).where(User.source == "ldap")).scalars().all() == []


def test_unknown_user_and_wrong_password_get_the_same_answer_and_both_count(directory_units):
    with pytest.raises(Unauthorized) as unknown:
        token(directory_units, "nobody", "whatever-pass-1")
    with pytest.raises(Unauthorized) as wrong:
        token(directory_units, "dana", "not-danas-pass")
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)
    assert failures(directory_units) == 2


def test_the_throttle_comes_before_the_cache_and_the_directory(directory_units):
    token(directory_units, "eve", PASSWORDS["eve"])  # now in the cache
    for _ in range(5):
        with pytest.raises(Unauthorized):
            token(directory_units, "eve", "guessing-pass-1")
    with pytest.raises(Throttled):  # the right, cached password is refused while the pair is blocked
        token(directory_units, "eve", PASSWORDS["eve"])
    assert token(directory_units, "eve", PASSWORDS["eve"], source="10.9.9.9").principal.subject == "eve"


def test_a_cached_password_needs_no_directory_and_an_outage_is_a_503_not_a_failure(directory_units, slapd):
    token(directory_units, "dana", PASSWORDS["dana"])
    slapd.stop()
    try:
        started = time.monotonic()
        # Within credential_cache_ttl the same password costs neither a bind nor a search.
        assert actions(token(directory_units, "dana", PASSWORDS["dana"], "repository:payments/x:push")) == {"push"}
        for name, password in (("dana", "another-pass-1"), ("eve", PASSWORDS["eve"]), ("nobody", "pass-word-1")):
            with pytest.raises(DirectoryUnavailable) as refused:
                token(directory_units, name, password)
            assert (refused.value.http_status, refused.value.code) == (503, "UNAVAILABLE")
            assert "directory is unavailable" in refused.value.message
        assert time.monotonic() - started < 3 * 2  # well within the timeouts, nothing hangs
        assert failures(directory_units) == 0  # an outage is not a guess
        # Local accounts do not need the directory.
        assert token(directory_units, "alice", LOCAL_PASSWORDS["alice"]).principal.subject == "alice"
    finally:
        slapd.start()
    assert token(directory_units, "eve", PASSWORDS["eve"]).principal.subject == "eve"


def test_local_and_directory_accounts_never_share_a_name(directory_units):
    # "clash" is a directory person who never signed in: taking the name needs a confirmation
    # (issue 20; tests/services/test_directory_names.py), after which the local account wins it.
    with pytest.raises(Conflict, match="lock them out"):
        directory_units.run(accounts.create_user, OPERATOR, "clash", "local-clash-pass-1")
    directory_units.run(accounts.create_user, OPERATOR, "clash", "local-clash-pass-1", take_directory_name=True)
    with pytest.raises(Unauthorized):  # the directory's password is not the local account's
        token(directory_units, "clash", PASSWORDS["clash"])
    assert token(directory_units, "clash", "local-clash-pass-1").principal.subject == "clash"
    token(directory_units, "dana", PASSWORDS["dana"])
    with pytest.raises(Conflict, match="directory account"):
        directory_units.run(accounts.create_user, OPERATOR, "dana", "local-dana-pass-1")
    with pytest.raises(Conflict, match="set in the directory"):
        directory_units.run(accounts.set_password, OPERATOR, "dana", "local-dana-pass-1")
    with pytest.raises(Unauthorized):  # the marker hash is no password either
        token(directory_units, "dana", "!directory")


def test_an_empty_password_is_never_an_anonymous_bind(directory_units):
    with pytest.raises(Unauthorized):
        token(directory_units, "dana", "")


def _wait_for(outcome, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if outcome():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE} s: {what}")


def test_leaving_a_group_ends_its_access_within_the_bound_for_passwords_and_refresh_tokens(tmp_path, slapd):
    units = Units(tmp_path, credential_cache_ttl=2, **slapd.settings())
    try:
        units.run(projects.create_project, OPERATOR, "payments", public=False)
        units.run(project_groups.add_group_member, OPERATOR, "payments", "payments-dev", "developer")
        grant = token(units, "eve", PASSWORDS["eve"], "repository:payments/api:push", offline=True)
        refresh = grant.body["refresh_token"]

        def by_refresh() -> set[str]:
            request = grants.TokenRequest(service="registry", scopes=["repository:payments/api:push"],
                                          refresh_token=refresh)
            return actions(units.run(grants.issue_token, request))

        assert by_refresh() == {"push"}
        slapd.remove_from_group("eve", "payments-dev")
        try:
            _wait_for(lambda: actions(token(units, "eve", PASSWORDS["eve"], "repository:payments/api:push")) == set(),
                      "the password login lost push")
            _wait_for(lambda: by_refresh() == set(), "the refresh token lost push")
            # The refresh token still works (eve is still in the directory): it re-read her groups.
            assert units.run(grants.issue_token, grants.TokenRequest(
                service="registry", refresh_token=refresh)).principal.subject == "eve"
        finally:
            slapd.add_to_group("eve", "payments-dev")
    finally:
        units.close()


def test_without_a_service_account_stale_groups_refuse_stand_in_credentials(tmp_path, slapd):
    settings = slapd.settings(ldap_bind_dn="", ldap_bind_password="", ldap_user_dn_template=f"uid={{name}},{PEOPLE}")
    units = Units(tmp_path, credential_cache_ttl=1, **settings)
    try:
        grant = token(units, "dana", PASSWORDS["dana"], offline=True)
        request = grants.TokenRequest(service="registry", refresh_token=grant.body["refresh_token"])
        assert units.run(grants.issue_token, request).principal.groups == frozenset({"payments-dev"})
        _wait_for(lambda: _refused(units, request), "the refresh token was refused once groups aged out")
        # A password sign-in reads the groups again, and with them the refresh token works again.
        token(units, "dana", PASSWORDS["dana"])
        assert units.run(grants.issue_token, request).principal.subject == "dana"
    finally:
        units.close()


def _refused(units: Units, request) -> bool:
    try:
        units.run(grants.issue_token, request)
    except Unauthorized:
        return True
    return False


def test_ldaps_and_starttls_with_the_test_ca(tmp_path, slapd):
    for name in ("ldaps", "starttls", "untrusted"):
        (tmp_path / name).mkdir()
    for name, extra in (("ldaps", {"ldap_url": slapd.ldaps_url}), ("starttls", {"ldap_start_tls": True})):
        units = Units(tmp_path / name, **slapd.settings(ldap_allow_plain=False, ldap_tls_ca_file=str(slapd.ca),
                                                        **extra))
        try:
            assert token(units, "dana", PASSWORDS["dana"]).principal.groups == frozenset({"payments-dev"})
        finally:
            units.close()
    # Without the CA the certificate is not trusted: unavailable, never a silent plain connection.
    units = Units(tmp_path / "untrusted", **slapd.settings(ldap_url=slapd.ldaps_url, ldap_allow_plain=False))
    try:
        with pytest.raises(DirectoryUnavailable):
            token(units, "dana", PASSWORDS["dana"])
    finally:
        units.close()


def test_a_directory_that_accepts_but_never_answers_is_unavailable_within_the_timeout(tmp_path, slapd):
    import socket
    with socket.socket() as silent:  # listens (the kernel completes the handshake) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        units = Units(tmp_path, **slapd.settings(ldap_url=f"ldap://127.0.0.1:{silent.getsockname()[1]}",
                                                 ldap_receive_timeout=1))
        try:
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable):
                token(units, "dana", PASSWORDS["dana"])
            assert time.monotonic() - started < 3, "a silent directory must cost one receive timeout, not more"
            assert failures(units) == 0
        finally:
            units.close()


def test_a_person_the_user_filter_no_longer_finds_loses_stand_in_credentials_within_the_bound(tmp_path, slapd):
    """What AD's disabled-account term does, with an attribute OpenLDAP's schema has."""
    from tests.support.slapd import user_dn
    units = Units(tmp_path, credential_cache_ttl=1, **slapd.settings(
        ldap_user_filter="(&(objectClass=inetOrgPerson)(uid={name})(!(description=disabled)))"))
    try:
        grant = token(units, "grace", PASSWORDS["grace"], offline=True)
        request = grants.TokenRequest(service="registry", refresh_token=grant.body["refresh_token"])
        assert units.run(grants.issue_token, request).principal.subject == "grace"
        slapd.modify(f"dn: {user_dn('grace')}\nchangetype: modify\nadd: description\ndescription: disabled\n")
        try:
            _wait_for(lambda: _refused(units, request), "the refresh token of a disabled person was refused")
            with pytest.raises(Unauthorized):  # her password too (its cache entry is older than the bound)
                token(units, "grace", PASSWORDS["grace"])
        finally:
            slapd.modify(f"dn: {user_dn('grace')}\nchangetype: modify\ndelete: description\n")
    finally:
        units.close()


def test_a_refused_refresh_token_leaves_no_stamp_and_waits_on_nothing(tmp_path, slapd):
    """Issue 20: the refresh-token verifier stamped the token's last use in the unit and then refused
    it (groups aged out, no service account to re-read them); the refusal's early write then waited
    for the unit's own write lock on SQLite.  A token is now stamped only once it is accepted."""
    settings = slapd.settings(ldap_bind_dn="", ldap_bind_password="", ldap_user_dn_template=f"uid={{name}},{PEOPLE}")
    units = Units(tmp_path, **settings)
    try:
        grant = token(units, "dana", PASSWORDS["dana"], offline=True)
        request = grants.TokenRequest(service="registry", refresh_token=grant.body["refresh_token"])
        with units.engine.begin() as connection:  # her groups aged out, and the token's stamp is due
            connection.execute(update(User).where(User.name == "dana").values(
                groups_read_at=utcnow() - dt.timedelta(days=1)))
        started = time.monotonic()
        assert _refused(units, request)
        assert time.monotonic() - started < 1
        with units.engine.connect() as connection:
            assert connection.execute(select(RefreshToken.last_used_at)).scalar_one() is None
            refusals = connection.execute(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "login.failure", AuditEvent.actor == "dana")).scalar()
        assert refusals == 1
    finally:
        units.close()
