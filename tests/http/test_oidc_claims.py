"""What the provider says about a person, when it must not let them in: a groups claim that is
not a list of names, user names that cannot be ours, a local account's name or e-mail, and the
allow-lists.  The claims are set at the real provider (its admin API), so they reach authsvc
through a real ID token and userinfo.

Every case is a 401 sign-in page with a message, one ``login.failure`` in the audit log, no
account provisioned and no session; a local account whose name or e-mail was claimed is left
exactly as it was, and its password still signs it in.
"""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import update

from authsvc.store.models import User, db
from tests.conftest import seed
from tests.support import oidc_flow as flow
from tests.support.console import sign_in as password_sign_in


@pytest.fixture
def make(tmp_path, oidc_provider):
    """``make(**settings)``: a seeded app trusting the session's provider, context pushed."""
    with contextlib.ExitStack() as stack:
        def build(**settings):
            application = flow.oidc_app(tmp_path, oidc_provider.issuer, **settings)
            stack.enter_context(application.app_context())
            stack.callback(db.engine.dispose)
            stack.callback(db.session.remove)
            seed()
            return application
        yield build


def _refused(app, op, text: str, reason: str, **claims) -> None:
    sub = op.new_person(**claims)
    client = app.test_client()
    flow.assert_refused(client, flow.sign_in(client, op, sub), text)
    assert len(flow.failures(reason)) == 1
    db.session.expire_all()
    assert db.session.query(User).filter(User.source == "oidc").count() == 0


@pytest.mark.parametrize("groups", ["payments", ["payments", 5], [["payments"]], ["payments", ""],
                                    ["pay\nments"], [" payments"], {"payments": True}, ["x" * 300]],
                         ids=["string", "number", "nested", "empty", "control", "space", "object", "long"])
def test_a_groups_claim_that_is_not_a_list_of_names_is_refused(make, oidc_provider, groups):
    _refused(make(), oidc_provider, "sent a list of groups that cannot be read", "groups", groups=groups)


def test_no_groups_claim_means_no_groups(make, oidc_provider):
    app = make()
    sub = oidc_provider.new_person()
    assert flow.sign_in(app.test_client(), oidc_provider, sub).status_code == 303
    assert flow.user_row(sub).directory_groups == ""


@pytest.mark.parametrize("name", ["a" * 300, "zed\n", "zed\x00", "Eve Smith", " zed", "robot$x", "-dash", "é"],
                         ids=["long", "newline", "nul", "space", "padded", "robot-prefix", "dash", "non-ascii"])
def test_an_unusable_user_name_is_refused(make, oidc_provider, name):
    _refused(make(), oidc_provider, "cannot be used here", "name", preferred_username=name)


@pytest.mark.parametrize("name", [5, ["zed"], None, ""], ids=["number", "list", "null", "empty"])
def test_a_user_name_claim_that_is_not_a_string_is_refused(make, oidc_provider, name):
    _refused(make(), oidc_provider, "did not say your user name", "preferred_username", preferred_username=name)


def _untouched(app, name: str) -> None:
    row = flow.user_row(name)
    assert (row.source, row.oidc_subject, row.directory_groups) == ("local", None, None)
    client = app.test_client()
    with app.app_context():  # a context of its own, as each request has under gunicorn (a fresh g)
        assert password_sign_in(client, name).status_code == 303
        assert client.get("/projects").status_code == 200


@pytest.mark.parametrize(("claimed", "text"), [("bob", "belongs to an account here"),
                                               ("BOB", "belongs to an account here"),
                                               ("bob\n", "cannot be used here")])
def test_a_local_accounts_name_is_refused_and_the_account_untouched(make, oidc_provider, claimed, text):
    app = make()
    _refused(app, oidc_provider, text, "", preferred_username=claimed,
             groups=["registry-admins"])
    _untouched(app, "bob")


def test_a_local_accounts_email_is_refused_and_the_account_untouched(make, oidc_provider):
    app = make()
    db.session.execute(update(User).where(User.name == "carol").values(email="carol@corp.example"))
    db.session.commit()
    _refused(app, oidc_provider, "belongs to an account here", "taken", email="Carol@Corp.Example")
    assert flow.user_row("carol").email == "carol@corp.example"
    _untouched(app, "carol")


def test_the_admin_name_cannot_be_claimed(make, oidc_provider):
    app = make()
    _refused(app, oidc_provider, "belongs to an account here", "taken", preferred_username="root")
    assert flow.user_row("root").is_admin


# -- allow-lists ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "verified", "allowed"), [
    ("ann@corp.example", True, True),
    ("ann@CORP.example", True, True),
    ("ann@corp.example", False, False),
    ("ann@corp.example", None, False),
    ("ann@corp.example", "true", False),
    ("ann@evil.example", True, False),
    ("ann@sub.corp.example", True, False),
    ("ann@corp.example.evil", True, False),
], ids=["verified", "case", "unverified", "missing", "string-true", "other-domain", "subdomain", "suffix"])
def test_the_email_domain_allow_list_counts_only_a_verified_address(make, oidc_provider, email, verified, allowed):
    app = make(oidc_allowed_email_domains="corp.example")
    claims = {"email": email} if verified is None else {"email": email, "email_verified": verified}
    sub = oidc_provider.new_person(**claims)
    if verified is None:  # new_person fills email_verified in: say it again without
        oidc_provider.set_user(sub, preferred_username=sub, email=email)
    client = app.test_client()
    response = flow.sign_in(client, oidc_provider, sub)
    if allowed:
        assert response.status_code == 303 and client.get("/projects").status_code == 200
    else:
        flow.assert_refused(client, response, "not in an allowed domain")
        assert flow.failures("domain")


@pytest.mark.parametrize(("groups", "allowed"), [(["Payments"], True), (["ops", "payments"], True),
                                                 (["ops"], False), ([], False), (None, False)])
def test_the_group_allow_list(make, oidc_provider, groups, allowed):
    app = make(oidc_allowed_groups="payments,platform")
    sub = oidc_provider.new_person(**({} if groups is None else {"groups": groups}))
    client = app.test_client()
    response = flow.sign_in(client, oidc_provider, sub)
    if allowed:
        assert response.status_code == 303
    else:
        flow.assert_refused(client, response, "in none of the groups allowed")
        assert flow.failures("allowed group")


@pytest.mark.parametrize(("display", "email"), [("x" * 1000, "long@example.com"), ("Eve\x00Smith", "nul@example.com"),
                                                (["Eve"], ["eve@example.com"]), ("Ève Smith", "Mixed@Example.com")],
                         ids=["long", "nul", "lists", "accents"])
def test_odd_display_names_and_emails_are_stored_safely(make, oidc_provider, display, email):
    """The display name and e-mail are not who the person is: odd values are stored cut and
    escaped (or left out when not a string), never a refusal and never a 500 -- on PostgreSQL a
    NUL in a text column would be one."""
    app = make()
    sub = oidc_provider.new_person(name=display, email=email)
    assert flow.sign_in(app.test_client(), oidc_provider, sub).status_code == 303
    row = flow.user_row(sub)
    assert row.display_name is None or (len(row.display_name) <= 200 and "\x00" not in row.display_name)
    assert row.email is None or row.email == email.lower()
