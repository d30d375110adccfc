"""The authenticator: one verifier per kind of credential, run as a chain.

Each verifier says whether a presented credential is of its kind
(``accepts``, by shape alone: a robot login, a personal-token prefix, a
refresh token, a bearer token; a password is whatever is left) and turns it
into an :class:`Identity` or nothing (``verify``).  The chain adds what every
kind shares: the metrics, and what a refusal must leave behind -- the failed
login in the audit log and, for guessable secrets, a throttle count -- written
on the unit's early-write connection so that the 401 that follows does not
erase them.  Nothing here needs the modules that *manage* credentials.
"""

from __future__ import annotations

from ... import metrics
from .. import audit
from ..errors import Forbidden, Unauthorized
from ..unit_of_work import UnitOfWork
from . import throttle
from .bearer import BearerTokenVerifier
from .cache import VerifiedCredentialCache
from .directory import DirectoryAccounts
from .identity import ANONYMOUS_IDENTITY, Credential, Identity
from .identity_token import IdentityTokenVerifier
from .oidc import OidcAccounts
from .password import PasswordVerifier
from .personal_token import PersonalTokenVerifier
from .refresh import RefreshTokenVerifier
from .robot import RobotVerifier
from .standing import AccountStanding


class Authenticator:
    """Turns a presented credential into an :class:`Identity`, or refuses with one message."""

    def __init__(self, cache: VerifiedCredentialCache, directory: DirectoryAccounts, oidc: OidcAccounts):
        self.cache = cache
        #: Directory accounts (LDAP / AD): their passwords and, for every credential, their groups.
        self.directory = directory
        #: People from the OpenID provider: they sign in through the console (oidc_login.py) and
        #: present stand-in credentials only; their groups are asked of the provider again.
        self.oidc = oidc
        #: Who the owner of a stand-in credential is now, whatever the account's source.
        self.standing = AccountStanding(directory, oidc)
        self.password = PasswordVerifier(cache, directory)
        # Order matters only among verifiers that accept the same shape: robots and personal
        # tokens are recognised before a name and secret is taken for a password.
        # An identity token as a robot's password comes before the robot secret (same login).
        self.verifiers = (IdentityTokenVerifier(), RobotVerifier(), PersonalTokenVerifier(self.standing),
                          RefreshTokenVerifier(self.standing), BearerTokenVerifier(self.standing), self.password)

    def authenticate(self, uow: UnitOfWork, credential: Credential | None) -> Identity:
        """The identity behind ``credential`` (anonymous for None); :class:`Unauthorized` if it is
        wrong, :class:`~.throttle.Throttled` if its (name, source) pair is blocked,
        :class:`~.directory_client.DirectoryUnavailable` (neither audited as a failed login nor
        counted) if a directory account's check could not reach the directory."""
        if credential is None:
            return ANONYMOUS_IDENTITY
        verifier = next(v for v in self.verifiers if v.accepts(credential))
        identity = verifier.verify(uow, credential)
        metrics.login(verifier.kind, identity is not None)
        if identity is None:
            _record_failure(uow, verifier.claimed_name(uow, credential), counted=verifier.throttled)
            raise Unauthorized()
        return identity

    def refuse(self, uow: UnitOfWork, claimed: str, *, answer: Unauthorized | None = None, **details) -> None:
        """Refuse a credential the chain accepted but the caller's purpose does not (a console
        sign-in with a personal token): audited like any failed login, with the same answer.

        What the verifier wrote first (a personal token's last use) is a lasting write: the early
        write commits it first (``UnitOfWork.write_now``), as the token was genuinely used."""
        _record_failure(uow, claimed, counted=False, **details)
        raise answer or Unauthorized()

    def require_current_password(self, uow: UnitOfWork, user_name: str, password: str | None) -> None:
        """Refuse (403) unless ``password`` is the user's current one; throttled and audited like a
        login, so that a stolen stand-in credential gives no free guesses at the real password."""
        if password is None or not self.password.check_current(uow, user_name, password):
            _record_failure(uow, user_name, counted=True, check="old_password")
            # 403, not 401: the caller is authenticated; this is not a failed login.
            raise Forbidden("changing your own password needs your current password as old_password",
                            field="old_password")


def _record_failure(uow: UnitOfWork, claimed: str, *, counted: bool, **details) -> None:
    """The early write of a refusal: its audit event and, for guessable secrets, its throttle count.

    ``write_now`` first ends the unit's session (committing what the verifiers wrote that must
    last, such as the throttle clear of a correct Basic login before a wrong ``old_password``), so
    the count never waits on a lock of this very request."""
    with uow.write_now() as connection:
        if counted:
            throttle.count_failure(connection, uow.settings, claimed, uow.source)
        audit.record_now(connection, uow, claimed, "login.failure", **details)


__all__ = ["Authenticator", "Identity", "throttle"]
