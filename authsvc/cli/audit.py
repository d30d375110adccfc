"""The audit log: list and filter it, purge old entries."""

from __future__ import annotations

import json

import click

from ..core.policy import OPERATOR
from ..services import audit
from ..store.models import utcnow
from .common import emit, json_option, parse_age, with_app


@click.group("audit", invoke_without_command=True)
@click.pass_context
def audit_group(ctx: click.Context) -> None:
    """Token grants, failed logins and administrative changes.

    Alone, 'authsvc audit' lists the latest events (as 'audit list' does with its defaults).
    """
    if ctx.invoked_subcommand is None:  # the useful default is what happened last, not the help
        ctx.invoke(audit_list)


@audit_group.command("list")
@click.option("--since", "since", help="Only events newer than this age (30d, 12h, 90m).")
@click.option("--actor", help="Only events by this actor (a user name; '' for anonymous).")
@click.option("--action", help="Only actions starting with this (token.grant, login.failure, user., member.).")
@click.option("--request-id", help="Only events caused by this HTTP request (its X-Request-ID, as logged).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@json_option
@with_app
def audit_list(uow, since: str | None, actor: str | None, action: str | None, request_id: str | None,
               limit: int, as_json: bool) -> None:
    """List events, newest first."""
    events = audit.list_events(uow, OPERATOR, since=utcnow() - parse_age(since) if since else None, who=actor,
                               action=action, request_id=request_id, limit=limit)
    rows = [audit.event_summary(e) for e in events]
    if not as_json:
        for row in rows:
            row["details"] = json.dumps(row["details"], separators=(",", ":"))
    emit(rows, as_json, ["id", "at", "actor", "source", "action", "target", "request_id", "details"])


@audit_group.command("purge")
@click.option("--older-than", "older_than", required=True, help="Age like 90d, 12h or 90m.")
@with_app
def audit_purge(uow, older_than: str) -> None:
    """Delete events older than the given age."""
    count = audit.purge(uow, OPERATOR, parse_age(older_than))
    click.echo(f"purged {count} audit event(s)")
