"""The identity-token verifier: a CI job's or a pod's OIDC token acting as a robot, keyless.

Presented as the password of the robot's login (``docker login -u robot.team.ci
--password-stdin`` with ``$ACTIONS_ID_TOKEN`` / ``$CI_JOB_JWT`` / the projected service-account
token), or through the token exchange at /token (web/token.py), which hands it here the same way.
It is one of the chain's verifiers, recognised by shape (a robot login with a JWT for secret),
before the robot-secret verifier.

The checks, in order, all from joserfc: the token's ``iss`` must be a trusted issuer exactly
(no trailing ``/``, no other case); its header's algorithm one of the asymmetric ones; its
signature by one of that issuer's keys (issuer_keys.py); ``aud`` exactly the issuer's configured
audience (a list naming others beside it is refused: any of those relying parties could replay
it here); ``exp``, ``nbf`` and ``iat`` within a minute's leeway.  Then the robot must be active
and one of its trust policies for that issuer must match the claims (core/claim_conditions.py).
The robot gets its own actions, never more; the registry token it is given never outlives the
identity token (:attr:`Identity.not_after`), and no refresh token is issued for it.  Every use
is audited with the issuer, the subject and the conditions that matched.
"""

from __future__ import annotations

import json
import logging
import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy import select, update

from ...core.claim_conditions import InvalidCondition, conditions, matches
from ...core.names import parse_robot_login, robot_login
from ...core.policy import CredentialKind, Permission, Principal, RobotScope
from ...store import queries
from ...store.models import RobotTrustPolicy, TrustedIssuer, utcnow
from .. import audit
from ..unit_of_work import UnitOfWork
from .identity import Identity, NameAndSecret
from .issuer_keys import IssuerKeys, UnusableKeys
from .password import storable

#: Signature algorithms an identity token may use: asymmetric only.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: Longest identity token read at all (GitHub's are about 1.2 KB, Kubernetes' about 1 KB).
MAX_TOKEN_LENGTH = 8192
LEEWAY_SECONDS = 60
_policies = RobotTrustPolicy.__table__
_log = logging.getLogger(__name__)


def looks_like_jwt(secret: str) -> bool:
    return secret.startswith("eyJ") and secret.count(".") == 2 and len(secret) <= MAX_TOKEN_LENGTH


class IdentityTokenVerifier:
    kind = "identity_token"
    throttled = False  # a signed token is not guessable

    def __init__(self):
        self.keys = IssuerKeys()

    def claimed_name(self, uow: UnitOfWork, credential: NameAndSecret) -> str:
        return storable(credential.name.lower())

    def accepts(self, credential) -> bool:
        return (isinstance(credential, NameAndSecret) and parse_robot_login(credential.name.lower()) is not None
                and looks_like_jwt(credential.secret))

    def verify(self, uow: UnitOfWork, credential: NameAndSecret) -> Identity | None:
        uow.before_slow_work()  # keys may be fetched, and every use is audited: never the fast path
        project, name = parse_robot_login(credential.name.lower())
        robot = queries.robot_by_login(uow.reads, project, name)
        if robot is None or robot.disabled or (robot.expires_at is not None and robot.expires_at <= utcnow()):
            return None
        checked = self._check(uow, credential.secret)
        if checked is None:
            return None
        issuer, claims = checked
        matched = self._matching_policy(uow, robot.id, issuer.id, claims)
        if matched is None:
            return None
        policy_id, policy = matched
        login = robot_login(robot.project_name, robot.name)
        uow.session.execute(update(_policies).where(_policies.c.id == policy_id).values(last_used_at=utcnow()))
        audit.record(uow, login, "robot.identity_token", login, issuer=issuer.name, subject=str(claims["sub"])[:200],
                     policy=policy_id, matched=[str(c) for c in policy])
        scope = RobotScope(robot.project_name, frozenset(Permission(a) for a in robot.actions.split(",") if a))
        principal = Principal(login, robot_scope=scope, credential=CredentialKind.ROBOT_SECRET)
        return Identity(principal, self.kind, not_after=int(claims["exp"]))

    def _check(self, uow: UnitOfWork, token: str) -> tuple[TrustedIssuer, dict] | None:
        """(the trusted issuer, the claims) of a token one of them signed for us, else None."""
        try:
            signed = extract_compact(token.encode("ascii"))
            header, unverified = signed.headers(), json.loads(signed.payload)
        except (JoseError, ValueError, UnicodeError):
            return None
        if header.get("alg") not in ALGORITHMS or not isinstance(unverified, dict):
            return None
        issuer = uow.session.execute(select(TrustedIssuer).where(
            TrustedIssuer.issuer == str(unverified.get("iss", ""))[:250])).scalar_one_or_none()
        if issuer is None:
            return None
        kid = header.get("kid")
        try:
            keys = self.keys.keys_for(issuer.issuer, issuer.jwks, kid if isinstance(kid, str) else None)
        except UnusableKeys as exc:
            _log.warning("identity token refused: %s", exc)  # the administrator's to fix, not the job's
            return None
        try:
            claims = jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims
            jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, iss={"essential": True, "value": issuer.issuer},
                                  exp={"essential": True}, sub={"essential": True}).validate(claims)
        except (JoseError, ValueError, TypeError):
            return None
        audience = claims.get("aud")
        if audience != issuer.audience and audience != [issuer.audience]:
            return None
        # The leeway is for clocks, not for lifetimes: a token past its exp gets nothing here.
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time() or not isinstance(
                claims.get("sub"), str):
            return None
        return issuer, claims

    def _matching_policy(self, uow: UnitOfWork, robot_id: int, issuer_id: int, claims: dict):
        rows = uow.session.execute(select(_policies.c.id, _policies.c.conditions).where(
            _policies.c.robot_id == robot_id, _policies.c.issuer_id == issuer_id).order_by(_policies.c.id))
        for policy_id, stored in rows:
            try:
                policy = conditions(json.loads(stored))
            except (InvalidCondition, ValueError, TypeError):
                continue  # a policy that cannot be read matches nothing
            if matches(policy, claims):
                return policy_id, policy
        return None


__all__ = ["IdentityTokenVerifier", "looks_like_jwt"]
