"""The robot verifier: ``robot.<project>.<name>`` with its random secret.

The secret has 256 random bits, so it is checked by a SHA-256 lookup: no bcrypt, no cache
and no throttle are needed.  Every request reads the robot's row, so a disabled, expired,
re-keyed or deleted robot is refused at once.
"""

from __future__ import annotations

import hmac

from ...core.credential_secrets import digest
from ...core.names import parse_robot_login, robot_login
from ...core.policy import CredentialKind, Permission, Principal, RobotScope
from ...store import queries
from ...store.models import utcnow
from ..unit_of_work import UnitOfWork
from .identity import Identity, NameAndSecret
from .password import storable


class RobotVerifier:
    kind = "robot"
    throttled = False

    def claimed_name(self, uow: UnitOfWork, credential: NameAndSecret) -> str:
        """Whom a refused attempt claimed to be, as the audit log and the throttle store it."""
        return storable(credential.name.lower())

    def accepts(self, credential) -> bool:
        return isinstance(credential, NameAndSecret) and parse_robot_login(credential.name.lower()) is not None

    def verify(self, uow: UnitOfWork, credential: NameAndSecret) -> Identity | None:
        project, name = parse_robot_login(credential.name.lower())
        row = queries.robot_by_login(uow.reads, project, name)
        if row is None or not hmac.compare_digest(row.secret_hash, digest(credential.secret)):
            return None
        if row.disabled or (row.expires_at is not None and row.expires_at <= utcnow()):
            return None
        scope = RobotScope(row.project_name, frozenset(Permission(a) for a in row.actions.split(",") if a))
        principal = Principal(robot_login(row.project_name, row.name), robot_scope=scope,
                              credential=CredentialKind.ROBOT_SECRET)
        return Identity(principal, self.kind)
