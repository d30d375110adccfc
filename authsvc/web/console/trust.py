"""Keyless machines in the console: trusted issuers (system administrators, under Administration)
and a robot's trust policies (whoever may manage the project's robots, from the Robots tab).

Thin over services/credentials/trust.py, as web/api/trust.py is: every rule (who may, which
URLs, which keys, which conditions, an issuer still in use) is the service's, and a refusal is
the page again with its message and status (``pages.refused``).  The issuer pages answer 404 to
everyone else, as the other administration pages do (admin.py).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for

from ...core.policy import may_manage_users
from ...services.credentials import trust
from ...services.errors import ServiceError
from ..unit import unit
from .pages import form_text, page, refused
from .projects import principal, project_context

#: The service refuses a JWKS over 64 KiB with its own message; the form keeps a little more so
#: that the message, not a silent cut, is what an administrator sees.
JWKS_LIMIT = 70_000
CONDITIONS_LIMIT = 8_000
#: Longest policy id the path may name (as in web/api/trust.py): beyond it no row exists.
_MAX_ID_DIGITS = 9


def _admins_only() -> None:
    if not may_manage_users(principal()):
        abort(404)


def _policy_id(text: str) -> int:
    """The id in the path; anything that is no id names no policy (0: the service's 404)."""
    return int(text) if text.isdigit() and len(text) <= _MAX_ID_DIGITS else 0


def _condition_lines(text: str) -> list[str]:
    """One condition a line; blank lines are skipped (the service checks each and their number)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def register(bp: Blueprint) -> None:
    def issuers_page(error=None, **values):
        rows = trust.list_issuers(unit(), principal())
        return page("issuers.html", issuers=rows, error=error, **values)

    @bp.get("/admin/issuers")
    def issuers():
        _admins_only()
        return issuers_page()

    @bp.post("/admin/issuers")
    def add_issuer():
        _admins_only()
        values = {"new_name": form_text("name", 100).strip().lower(), "new_issuer": form_text("issuer", 300).strip(),
                  "new_audience": form_text("audience", 300).strip(), "new_jwks": form_text("jwks", JWKS_LIMIT)}
        try:
            trust.add_issuer(unit(), principal(), values["new_name"], values["new_issuer"], values["new_audience"],
                             jwks=values["new_jwks"].strip() or None)
        except ServiceError as exc:
            return refused(exc, lambda error: issuers_page(error, **values))
        flash(f"Issuer {values['new_name']} added.", "success")
        return redirect(url_for("console.issuers"), 303)

    @bp.post("/admin/issuers/<issuer>/remove")
    def remove_issuer(issuer: str):
        _admins_only()
        try:
            trust.remove_issuer(unit(), principal(), issuer)
        except ServiceError as exc:
            return refused(exc, lambda error: issuers_page(error))
        flash(f"Issuer {issuer} removed.", "success")
        return redirect(url_for("console.issuers"), 303)

    def policies_page(name: str, robot: str, error=None, **values):
        context = project_context(name)  # 404 for a hidden project
        policies = trust.list_policies(unit(), principal(), name, robot)  # 403 without MANAGE_ROBOTS
        choices = trust.issuer_choices(unit(), principal(), name)
        return page("trust.html", tab="robots", robot=robot, policies=policies, choices=choices, error=error,
                    **values, **context)

    @bp.get("/projects/<name>/robots/<robot>/trust")
    def trust_policies(name: str, robot: str):
        return policies_page(name, robot)

    @bp.post("/projects/<name>/robots/<robot>/trust")
    def add_trust_policy(name: str, robot: str):
        values = {"new_issuer": form_text("issuer", 100), "new_conditions": form_text("conditions", CONDITIONS_LIMIT)}
        try:
            info = trust.add_policy(unit(), principal(), name, robot, values["new_issuer"],
                                    _condition_lines(values["new_conditions"]))
        except ServiceError as exc:
            return refused(exc, lambda error: policies_page(name, robot, error, **values))
        flash(f"Trust policy {info.id} added to robot {robot}.", "success")
        return redirect(url_for("console.trust_policies", name=name, robot=robot), 303)

    @bp.post("/projects/<name>/robots/<robot>/trust/<policy_id>/remove")
    def remove_trust_policy(name: str, robot: str, policy_id: str):
        try:
            trust.remove_policy(unit(), principal(), name, robot, _policy_id(policy_id))
        except ServiceError as exc:
            return refused(exc, lambda error: policies_page(name, robot, error))
        flash(f"Trust policy {policy_id} removed from robot {robot}.", "success")
        return redirect(url_for("console.trust_policies", name=name, robot=robot), 303)
