"""Machine credentials: robot accounts, personal access tokens, Kubernetes pull secrets."""

from __future__ import annotations

import json

import click

from ..core.policy import OPERATOR
from ..services.credentials import personal_tokens, pull_secrets, robots
from ..store.models import utcnow
from .common import emit, json_option, parse_age, with_app

expiry_options = [
    click.option("--expires-in", "expires_in", help="Lifetime like 90d, 12h (required unless --no-expiry)."),
    click.option("--no-expiry", is_flag=True, help="Never expire (must be asked for explicitly)."),
]


def _with_expiry(func):
    for option in reversed(expiry_options):
        func = option(func)
    return func


def _expiry(expires_in: str | None, no_expiry: bool) -> dict:
    """The options as the service takes them; the service decides (every robot expires unless
    its creator explicitly asks otherwise)."""
    return {"expires_at": utcnow() + parse_age(expires_in) if expires_in is not None else None,
            "never_expires": no_expiry}


def _show_secret(login: str, secret: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"login": login, "secret": secret}))
    else:
        click.echo(f"login:  {login}\nsecret: {secret}")
        click.echo("The secret is shown only now; store it (e.g. docker login, a CI secret).", err=True)


# -- robots -------------------------------------------------------------------

@click.group("robot")
def robot_group() -> None:
    """Robot accounts: per-project machine credentials (login robot.PROJECT.NAME)."""


@robot_group.command("create")
@click.argument("project")
@click.argument("name")
@click.option("--actions", default="pull", show_default=True, help="Comma-separated: pull, push, delete.")
@click.option("--description", default="")
@_with_expiry
@json_option
@with_app
def robot_create(uow, project, name, actions, description, expires_in, no_expiry, as_json) -> None:
    """Create a robot in PROJECT and print its login and secret (shown once)."""
    created = robots.create(uow, OPERATOR, project, name, actions=actions, description=description,
                            **_expiry(expires_in, no_expiry))
    _show_secret(created.login, created.secret, as_json)


@robot_group.command("list")
@click.argument("project")
@json_option
@with_app
def robot_list(uow, project, as_json) -> None:
    """List the robots of PROJECT."""
    rows = [robots.robot_summary(r, project) for r in robots.list_robots(uow, OPERATOR, project)]
    if not as_json:
        for row in rows:
            row["actions"] = ",".join(row["actions"])
    emit(rows, as_json, ["login", "actions", "expires_at", "disabled", "description"])


@robot_group.command("disable")
@click.argument("project")
@click.argument("name")
@with_app
def robot_disable(uow, project, name) -> None:
    """Refuse the robot's logins from now on (reversible with enable)."""
    robots.set_disabled(uow, OPERATOR, project, name, True)
    click.echo(f"disabled robot {name} of {project}")


@robot_group.command("enable")
@click.argument("project")
@click.argument("name")
@with_app
def robot_enable(uow, project, name) -> None:
    """Accept the robot's logins again."""
    robots.set_disabled(uow, OPERATOR, project, name, False)
    click.echo(f"enabled robot {name} of {project}")


@robot_group.command("rekey")
@click.argument("project")
@click.argument("name")
@json_option
@with_app
def robot_rekey(uow, project, name, as_json) -> None:
    """Give the robot a new secret; the old one stops working at once."""
    created = robots.rekey(uow, OPERATOR, project, name)
    _show_secret(created.login, created.secret, as_json)


@robot_group.command("delete")
@click.argument("project")
@click.argument("name")
@with_app
def robot_delete(uow, project, name) -> None:
    """Delete the robot."""
    robots.delete(uow, OPERATOR, project, name)
    click.echo(f"deleted robot {name} of {project}")


# -- personal access tokens -----------------------------------------------------

@click.group("pat")
def pat_group() -> None:
    """Personal access tokens: named, expiring stand-ins for a user's password."""


@pat_group.command("create")
@click.argument("user")
@click.argument("name")
@click.option("--expires-in", "expires_in", default=f"{personal_tokens.DEFAULT_LIFETIME.days}d", show_default=True,
              help=f"At most {personal_tokens.MAX_LIFETIME.days}d.")
@json_option
@with_app
def pat_create(uow, user, name, expires_in, as_json) -> None:
    """Create a token for USER and print it (shown once)."""
    created = personal_tokens.create(uow, OPERATOR, user, name, expires_in=parse_age(expires_in))
    _show_secret(user, created.token, as_json)


@pat_group.command("list")
@click.argument("user")
@json_option
@with_app
def pat_list(uow, user, as_json) -> None:
    """List USER's tokens with creation, expiry and last use (never the tokens)."""
    rows = [personal_tokens.token_summary(t) for t in personal_tokens.list_tokens(uow, OPERATOR, user)]
    emit(rows, as_json, ["name", "created_at", "expires_at", "last_used_at"])


@pat_group.command("revoke")
@click.argument("user")
@click.argument("name")
@with_app
def pat_revoke(uow, user, name) -> None:
    """Revoke one of USER's tokens."""
    personal_tokens.revoke(uow, OPERATOR, user, name)
    click.echo(f"revoked token {name} of {user}")


# -- pull secrets ---------------------------------------------------------------

@click.command("pull-secret")
@click.argument("project")
@click.option("--namespace", required=True, help="Kubernetes namespace of the Secret.")
@click.option("--name", help="Secret name (default: PROJECT-pull).")
@click.option("--robot", help="Use this robot of PROJECT (it is re-keyed: its old secret stops working).")
@click.option("--create-robot", is_flag=True, help="Create a pull-only robot (named --robot, or pull-NAMESPACE).")
@click.option("--registry", "registry_host", help="Registry host[:port] (default: the registry_host setting).")
@_with_expiry
@with_app
def pull_secret(uow, project, namespace, name, robot, create_robot, registry_host, expires_in,
                no_expiry) -> None:
    """Print a kubernetes.io/dockerconfigjson Secret for PROJECT, ready for kubectl apply -f -."""
    secret = pull_secrets.issue(uow, OPERATOR, project, namespace=namespace, name=name, robot=robot,
                                create_robot=create_robot, registry_host=registry_host,
                                **(_expiry(expires_in, no_expiry) if create_robot else {}))
    click.echo(secret.manifest, nl=False)
