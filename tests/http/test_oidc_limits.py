"""OIDC sign-in's guards that are not about one person: the anonymous button cannot fill the
database, and adding a provider group warns until someone who signed in was in it.  Against the
real provider process (tests/support/oidc_provider.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import project_groups
from authsvc.services.authn import oidc_login
from authsvc.store.models import OidcLogin, db
from tests.conftest import make_app, seed
from tests.support.oidc_provider import secret_file
from tests.support.units import call


@pytest.fixture
def provider(oidc_provider):
    return oidc_provider  # the session's provider process (tests/conftest.py)


@pytest.fixture
def oidc_app(tmp_path, provider):
    app = make_app(tmp_path, oidc_issuer=provider.issuer, oidc_allow_http=True, oidc_client_id="authsvc",
                   oidc_client_secret_file=str(secret_file(tmp_path)),
                   oidc_redirect_uri="http://localhost/login/oidc/callback")
    with app.app_context():
        seed()
        yield app
        db.session.remove()
        db.engine.dispose()


def _sign_in(client, provider, sub):
    start = client.get("/login/oidc")
    back = urlsplit(provider.authorize(start.headers["Location"], sub))
    return client.get(f"{back.path}?{back.query}")


def test_a_flood_of_sign_ins_stops_at_the_cap_with_a_clear_page(oidc_app, monkeypatch):
    monkeypatch.setattr(oidc_login, "MAX_PENDING", 3)
    client = oidc_app.test_client()
    for _ in range(3):
        assert client.get("/login/oidc").status_code == 303
    refused = client.get("/login/oidc")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert b"Too many sign-ins are under way" in refused.data
    assert db.session.query(OidcLogin).count() == 3  # nothing stored for the refused one


def test_a_provider_group_warns_until_someone_who_signed_in_was_in_it(oidc_app, provider):
    first = call(project_groups.add_group_member, OPERATOR, "priv", "payments", "developer")
    assert first.warning and "nobody who signed in" in first.warning
    call(project_groups.remove_group_member, OPERATOR, "priv", "payments")
    # "payments-eu" contains "payments": a person only in it does not count for "payments".
    assert _sign_in(oidc_app.test_client(), provider, provider.new_person(groups=["Payments-EU"])).status_code == 303
    assert call(project_groups.add_group_member, OPERATOR, "priv", "payments", "developer").warning
    call(project_groups.remove_group_member, OPERATOR, "priv", "payments")
    assert _sign_in(oidc_app.test_client(), provider, provider.new_person(groups=["Payments"])).status_code == 303
    assert call(project_groups.add_group_member, OPERATOR, "priv", "payments", "developer").warning is None
