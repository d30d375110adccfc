"""Issue 20: names the directory knows, checked where an administrator could get them wrong.

* ``add_group_member`` with a group the directory does not have: added (a group made there later
  must be addable beforehand), with a warning that says so; without a service account, a warning
  that it was not checked.
* A local account named like a directory person who has never signed in would lock them out (a
  local account always wins its name): refused unless ``take_directory_name``; a warning when it
  could not be checked.

Against the session's real slapd (tests/support/slapd.py).
"""

from __future__ import annotations

import socket

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts, project_groups, projects
from authsvc.services.errors import Conflict
from tests.services.conftest import Units
from tests.support.slapd import PEOPLE

NO_SERVICE_ACCOUNT = {"ldap_bind_dn": "", "ldap_bind_password": "", "ldap_user_dn_template": f"uid={{name}},{PEOPLE}"}


@pytest.fixture
def make_units(tmp_path, slapd):
    made: list[Units] = []

    def make(name: str = "units", **extra) -> Units:
        (tmp_path / name).mkdir()
        units = Units(tmp_path / name, **{**slapd.settings(), **extra})
        units.run(projects.create_project, OPERATOR, "payments", public=False)
        made.append(units)
        return units

    yield make
    for units in made:
        units.close()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"ldap://127.0.0.1:{sock.getsockname()[1]}"


def test_a_group_the_directory_lacks_is_added_with_a_warning(make_units):
    units = make_units()
    known = units.run(project_groups.add_group_member, OPERATOR, "payments", "Payments-Dev", "developer")
    assert known.warning is None
    typo = units.run(project_groups.add_group_member, OPERATOR, "payments", "payments-devs", "guest")
    assert "has no group 'payments-devs'" in typo.warning and "added anyway" in typo.warning
    listed = {g.group for g in units.run(project_groups.list_group_members, OPERATOR, "payments")}
    assert listed == {"payments-dev", "payments-devs"}  # still added: it may be created later


@pytest.mark.parametrize("extra, says", [
    (NO_SERVICE_ACCOUNT, "not checked: without a service account"),
    ({"ldap_url": "", "ldap_bind_dn": ""}, "no directory is configured"),
    ({"ldap_group_base_dn": "", "ldap_admin_group": ""}, "ldap_group_base_dn is not set"),
])
def test_a_group_that_cannot_be_checked_is_added_with_a_warning_saying_so(make_units, extra, says):
    units = make_units(**extra)
    added = units.run(project_groups.add_group_member, OPERATOR, "payments", "payments-dev", "developer")
    assert says in added.warning


def test_a_silent_directory_does_not_stop_adding_a_group(make_units):
    units = make_units(ldap_url=_dead_url())
    added = units.run(project_groups.add_group_member, OPERATOR, "payments", "payments-dev", "developer")
    assert "the directory did not answer" in added.warning


def test_a_directory_persons_name_needs_a_confirmation(make_units):
    units = make_units()
    with pytest.raises(Conflict, match="'grace' is a directory person who has not signed in here yet"):
        units.run(accounts.create_account, OPERATOR, "grace", "local-grace-pass-1")
    with pytest.raises(Conflict, match="lock them out"):  # the plain create_user refuses alike
        units.run(accounts.create_user, OPERATOR, "grace", "local-grace-pass-1")
    made = units.run(accounts.create_account, OPERATOR, "grace", "local-grace-pass-1", take_directory_name=True)
    assert made.user.source == "local" and "cannot sign in while this local account exists" in made.warning
    # A name the directory does not have: no question, no warning.
    assert units.run(accounts.create_account, OPERATOR, "henry", "local-henry-pass-1").warning is None


@pytest.mark.parametrize("how", ["no service account", "directory down"])
def test_a_name_that_cannot_be_checked_is_created_with_a_warning(make_units, how):
    units = make_units(**(NO_SERVICE_ACCOUNT if how == "no service account" else {"ldap_url": _dead_url()}))
    made = units.run(accounts.create_account, OPERATOR, "grace", "local-grace-pass-1")
    assert made.warning.startswith("not checked") and "locks them out" in made.warning
