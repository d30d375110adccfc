"""Keyless machines: trusted issuers (``authsvc issuer``) and robots' trust policies
(``authsvc robot trust``), thin over services/credentials/trust.py."""

from __future__ import annotations

import click

from ..core.policy import OPERATOR
from ..services.credentials import trust
from .common import emit, fail, json_option, with_app
from .machines import robot_group


def _read_jwks(path: str | None) -> str | None:
    """The file's text; an unreadable file is one ``authsvc: error:`` line, as every failure is."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(1024 * 1024)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{path} is not a text (JSON) file")


def _issuer_row(issuer, used: int) -> dict:
    return {"name": issuer.name, "issuer": issuer.issuer, "audience": issuer.audience,
            "keys": "stored" if issuer.jwks else "discovery", "policies": used}


@click.group("issuer")
def issuer_group() -> None:
    """Trusted OIDC issuers (CI platforms, Kubernetes clusters) whose tokens robots may trust."""


@issuer_group.command("add")
@click.argument("name")
@click.option("--issuer", "url", required=True, help="The tokens' iss, exactly (https://...).")
@click.option("--audience", required=True, help="The aud the tokens must carry for this registry.")
@click.option("--jwks-file", help="The issuer's JWKS, for an issuer this host cannot reach "
              "(kubectl get --raw /openid/v1/jwks).")
@json_option
@with_app
def issuer_add(uow, name, url, audience, jwks_file, as_json) -> None:
    """Trust the identity tokens of an issuer, under NAME."""
    row = trust.add_issuer(uow, OPERATOR, name, url, audience, jwks=_read_jwks(jwks_file))
    emit([_issuer_row(row, 0)], as_json, ["name", "issuer", "audience", "keys"])


@issuer_group.command("list")
@json_option
@with_app
def issuer_list(uow, as_json) -> None:
    """List the trusted issuers."""
    emit([_issuer_row(i, n) for i, n in trust.list_issuers(uow, OPERATOR)], as_json,
         ["name", "issuer", "audience", "keys", "policies"])


@issuer_group.command("set-keys")
@click.argument("name")
@click.option("--jwks-file", help="The new JWKS to store.")
@click.option("--discovery", is_flag=True, help="Drop the stored JWKS: fetch keys from the issuer.")
@with_app
def issuer_set_keys(uow, name, jwks_file, discovery) -> None:
    """Replace an issuer's stored keys (a cluster rotated its key), or fetch them from now on."""
    if bool(jwks_file) == discovery:
        raise click.UsageError("give --jwks-file FILE or --discovery")
    trust.set_issuer_keys(uow, OPERATOR, name, None if discovery else _read_jwks(jwks_file))
    click.echo(f"issuer {name}: keys {'from its discovery document' if discovery else 'stored'}")


@issuer_group.command("remove")
@click.argument("name")
@with_app
def issuer_remove(uow, name) -> None:
    """Stop trusting an issuer (refused while a trust policy uses it)."""
    trust.remove_issuer(uow, OPERATOR, name)
    click.echo(f"removed issuer {name}")


def _policy_row(info: trust.PolicyInfo) -> dict:
    return {"id": info.id, "robot": info.robot, "issuer": info.issuer,
            "conditions": [str(c) for c in info.conditions],
            "last_used_at": info.last_used_at.strftime("%Y-%m-%dT%H:%M:%SZ") if info.last_used_at else None}


@robot_group.group("trust")
def trust_group() -> None:
    """Trust policies: which identity tokens may act as a robot, without its secret."""


@trust_group.command("add")
@click.argument("project")
@click.argument("robot")
@click.option("--issuer", required=True, help="A trusted issuer's name (authsvc issuer list).")
@click.option("--claim", "claims", multiple=True, required=True, metavar="CLAIM=PATTERN",
              help="A condition, repeatable: sub=repo:acme/app:ref:refs/heads/main, "
                   "kubernetes.io/namespace=ci; '*' matches any run of characters.")
@json_option
@with_app
def trust_add(uow, project, robot, issuer, claims, as_json) -> None:
    """Let tokens of ISSUER whose claims match every --claim act as ROBOT of PROJECT."""
    row = _policy_row(trust.add_policy(uow, OPERATOR, project, robot, issuer, list(claims)))
    if not as_json:
        row["conditions"] = " ".join(row["conditions"])
    emit([row], as_json, ["id", "robot", "issuer", "conditions"])


@trust_group.command("list")
@click.argument("project")
@click.argument("robot")
@json_option
@with_app
def trust_list(uow, project, robot, as_json) -> None:
    """List a robot's trust policies."""
    rows = [_policy_row(p) for p in trust.list_policies(uow, OPERATOR, project, robot)]
    if not as_json:
        for row in rows:
            row["conditions"] = " ".join(row["conditions"])
    emit(rows, as_json, ["id", "issuer", "conditions", "last_used_at"])


@trust_group.command("remove")
@click.argument("project")
@click.argument("robot")
@click.argument("policy_id", type=int)
@with_app
def trust_remove(uow, project, robot, policy_id) -> None:
    """Remove a trust policy: the next request it would have matched is refused."""
    trust.remove_policy(uow, OPERATOR, project, robot, policy_id)
    click.echo(f"removed trust policy {policy_id} of robot {robot} in {project}")
