"""The CLI and an account of the OpenID provider: listed with its source, never given a password."""

from __future__ import annotations

from authsvc.store.models import User, db
from tests.cli.conftest import one_line_error
from tests.conftest import make_app


def _oidc_person(tmp_path, name: str) -> None:
    """An account as the first sign-in through the provider leaves it (services/authn/oidc.py)."""
    app = make_app(tmp_path)  # the CLI's own data dir and database
    with app.app_context():
        db.session.add(User(name=name, password_hash="!oidc", is_admin=False, is_active=True,
                            credential_version=1, source="oidc", oidc_subject=f"https://id.example {name}-sub"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_user_passwd_refuses_an_oidc_account(cli, tmp_path):
    _oidc_person(tmp_path, "olga")
    result = cli("user", "passwd", "olga", "--password-stdin", input="a-new-password-1\n", ok=False)
    one_line_error(result, "signs in through the identity provider")
    assert "oidc" in cli("user", "list").output


def test_user_create_names_why_an_oidc_persons_name_is_taken(cli, tmp_path):
    _oidc_person(tmp_path, "olga")
    result = cli("user", "create", "olga", "--password-stdin", input="a-new-password-1\n", ok=False)
    one_line_error(result, "signs in through the identity provider")
