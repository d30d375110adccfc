"""The web console with directory accounts, against the real slapd: a directory user signs in
through the same authenticator as /token, sees the projects their groups are members of with the
group's role, an admin-group member administers, and leaving a group ends what it gave within
``credential_cache_ttl`` -- in an open console session too."""

from __future__ import annotations

import re
import time

from authsvc.core.policy import OPERATOR
from authsvc.services.access import project_groups
from tests.http.conftest import served
from tests.support.console import Browser, sign_in
from tests.support.slapd import PASSWORDS
from tests.support.units import call

ROW = r">priv</a></td>\s*<td[^>]*>Private</td>\s*<td[^>]*>{}</td>"


def test_directory_users_in_the_console(tmp_path, slapd):
    with served(tmp_path, credential_cache_ttl=1, **slapd.settings()) as console:
        with console.app_context():
            call(project_groups.add_group_member, OPERATOR, "priv", "payments-dev", "developer")
        eve = Browser(console, "eve", PASSWORDS["eve"])
        assert re.search(ROW.format("developer"), eve.text("/projects"))
        assert eve.get("/projects/priv").status_code == 200
        assert eve.get("/admin/users").status_code == 404
        frank = Browser(console, "frank", PASSWORDS["frank"])
        assert ">Administration<" in frank.text("/projects") and frank.get("/admin/users").status_code == 200
        assert sign_in(console.test_client(), "eve", "not-eves-password").status_code == 401

        slapd.remove_from_group("eve", "payments-dev")
        try:
            deadline = time.monotonic() + 20
            while re.search(ROW.format("developer"), eve.text("/projects")):
                assert time.monotonic() < deadline, "the open session kept the group's role past the bound"
                time.sleep(0.2)
            assert eve.get("/projects/priv").status_code == 404  # private, and no longer hers
        finally:
            slapd.add_to_group("eve", "payments-dev")


def test_a_directory_outage_is_a_503_page_at_sign_in(tmp_path, slapd):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"ldap://127.0.0.1:{sock.getsockname()[1]}"
    with served(tmp_path, **slapd.settings(ldap_url=dead)) as console:
        refused = sign_in(console.test_client(), "dana", PASSWORDS["dana"])
        assert refused.status_code == 503 and "directory is unavailable" in refused.get_data(as_text=True)
        assert sign_in(console.test_client(), "bob").status_code == 303  # a local user signs in


def test_the_console_refuses_a_directory_persons_name_and_shows_warnings(tmp_path, slapd):
    """Issue 20: the console creates accounts through the same check as the CLI and the API."""
    (tmp_path / "search").mkdir()
    with served(tmp_path / "search", **slapd.settings()) as console:
        root = Browser(console, "root")
        refused = root.post("/admin/users/new", {"name": "grace", "password": "grace-pass-12",
                                                 "repeat": "grace-pass-12"})
        assert refused.status_code == 409 and "lock them out" in refused.get_data(as_text=True)
    (tmp_path / "template").mkdir()
    template = {"ldap_bind_dn": "", "ldap_bind_password": "", "ldap_user_dn_template": "uid={name},ou=people,dc=example,dc=org"}
    with served(tmp_path / "template", **slapd.settings(**template)) as console:
        root = Browser(console, "root")
        made = root.post("/admin/users/new", {"name": "grace", "password": "grace-pass-12", "repeat": "grace-pass-12"})
        assert made.status_code == 303
        assert "Warning: not checked against the directory" in root.text(made.headers["Location"])


def test_the_members_tab_shows_what_the_directory_says_of_a_group_added_there(tmp_path, slapd):
    """The Groups section's add form asks the directory, through the same service as the CLI:
    a group it has is added quietly, a missing one (a typo) with the warning beside the success,
    and without a service account, or with the directory down, with the warning that it could not
    be checked."""
    (tmp_path / "search").mkdir()
    with served(tmp_path / "search", **slapd.settings()) as console:
        alice = Browser(console, "alice")
        assert alice.post("/projects/priv/groups", {"group": "payments-dev", "role": "developer"}).status_code == 303
        page = alice.text("/projects/priv/members")
        assert "Group payments-dev is now a member of priv as developer." in page and "Warning:" not in page
        assert alice.post("/projects/priv/groups", {"group": "payments-devs", "role": "guest"}).status_code == 303
        page = alice.text("/projects/priv/members")
        assert "Group payments-devs is now a member of priv as guest." in page
        assert ('<p class="flash flash-warning" role="status">Warning: the directory has no group '
                "&#39;payments-devs&#39; under ou=groups,dc=example,dc=org; added anyway") in page
    (tmp_path / "bind").mkdir()
    as_user = {"ldap_bind_dn": "", "ldap_bind_password": "", "ldap_user_dn_template": "uid={name},ou=people,dc=example,dc=org"}
    with served(tmp_path / "bind", **slapd.settings(**as_user)) as console:
        alice = Browser(console, "alice")
        assert alice.post("/projects/priv/groups", {"group": "payments-dev", "role": "developer"}).status_code == 303
        page = alice.text("/projects/priv/members")
        assert "Group payments-dev is now a member of priv as developer." in page
        assert "Warning: not checked: without a service account (ldap_bind_dn) the directory cannot be asked" in page
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"ldap://127.0.0.1:{sock.getsockname()[1]}"
    (tmp_path / "down").mkdir()
    with served(tmp_path / "down", **slapd.settings(ldap_url=dead)) as console:
        alice = Browser(console, "alice")  # a local account: signs in while the directory is down
        assert alice.post("/projects/priv/groups", {"group": "payments-dev", "role": "developer"}).status_code == 303
        page = alice.text("/projects/priv/members")
        assert "Group payments-dev is now a member of priv as developer." in page
        assert "Warning: not checked: the directory did not answer whether it has group &#39;payments-dev&#39;" in page
