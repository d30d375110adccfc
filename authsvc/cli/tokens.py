"""Refresh tokens (what ``docker login`` stores): list and revoke."""

from __future__ import annotations

import click

from ..core.policy import OPERATOR
from ..services.credentials import refresh_tokens
from .common import emit, fail, json_option, with_app


@click.group("token")
def token_group() -> None:
    """Refresh tokens handed out at docker login."""


@token_group.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@json_option
@with_app
def token_list(uow, user_name: str | None, as_json: bool) -> None:
    """List live refresh tokens (never the tokens themselves, which are not stored)."""
    found = refresh_tokens.list_tokens(uow, OPERATOR, user_name)
    rows = [refresh_tokens.token_summary(row, name) for row, name in found]
    emit(rows, as_json, ["id", "user", "client_id", "created_at", "last_used_at"])


@token_group.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--user", "user_name", help="Revoke every refresh token of this user.")
@with_app
def token_revoke(uow, token_id: int | None, user_name: str | None) -> None:
    """Revoke one refresh token by id, or all of a user's with --user."""
    if (token_id is None) == (user_name is None):
        fail("give either a token id or --user USER")
    if user_name is not None:
        count = refresh_tokens.revoke_all(uow, OPERATOR, user_name)
        click.echo(f"revoked {count} refresh token(s) of {user_name}")
    else:
        refresh_tokens.revoke(uow, OPERATOR, token_id)
        click.echo(f"revoked refresh token {token_id}")
