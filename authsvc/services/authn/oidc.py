"""People from the OpenID Connect provider: who they are here, and what they hold.

A person is provisioned at their first sign-in (oidc_login.py hands the checked ID token here)
with ``source = 'oidc'``, an unusable password hash and ``oidc_subject`` = the provider's ``iss``
and ``sub`` -- the only claims a provider promises never to give to someone else.  Later sign-ins
find the account by that subject, never by the user name or e-mail, which many providers let
people change: renamed at the provider, a person keeps their account, and cannot reach another.

A local or directory account keeps its name: a new person whose user name, or e-mail, is an
existing account's is refused (an administrator decides; the refusal says so), so the provider
can never be used to sign in as ``admin``.

Their groups (the groups claim, with ``oidc_groups_prefix``, lower-cased) are kept on the account
row as a directory person's are, and count exactly as directory groups do (project group members,
the admin group).  Like a directory person's, they count for at most ``credential_cache_ttl``:
after that, a stand-in credential -- a personal access token, an API token, a console session --
makes :meth:`OidcAccounts.standing` ask the provider again with the refresh token it gave at
sign-in (a refresh grant, then userinfo).  A provider that declines the refresh (the person was
removed or disabled there, or signed out everywhere) ends every credential of the person: the
refresh token is dropped, and nothing works again until they sign in through the provider.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...core.names import InvalidName, check_user_name
from ...core.policy import CredentialKind, Principal
from ...core.text import storable_copy
from ...settings import Settings
from ...store.models import GROUP_NAME_MAX, OIDC_SOURCE, User, utcnow
from ..unit_of_work import UnitOfWork
from .directory import parse_groups
from .identity import Identity
from .oidc_provider import OidcProvider, ProviderRefused

#: What an OIDC person's ``password_hash`` holds: no scheme, so no password ever matches it.
NO_PASSWORD = "!oidc"
#: The ``Identity.kind`` of a fresh sign-in through the provider.
KIND = "oidc"
_users = User.__table__
_EMAIL_MAX, _DISPLAY_MAX, _MAX_GROUPS = 254, 200, 500


class SignInRefused(ProviderRefused):
    """The provider vouched for the person, but they may not sign in here; ``message`` tells
    them why (they are who they say, so this reveals nothing to a stranger)."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.message = message


class OidcAccounts:
    """The provider, if one is configured (``oidc_issuer``), and the people who come from it."""

    def __init__(self, settings: Settings):
        self.provider = OidcProvider(settings) if settings.oidc_issuer else None
        self.name = settings.oidc_provider_name
        self.claim_names = (settings.oidc_username_claim, settings.oidc_email_claim,
                            settings.oidc_display_name_claim, settings.oidc_groups_claim)
        self.prefix = settings.oidc_groups_prefix
        self.admin_group = settings.oidc_admin_group.lower()
        self.allowed_domains = frozenset(d.lower().strip(".") for d in settings.oidc_allowed_email_domains)
        self.allowed_groups = frozenset(g.lower() for g in settings.oidc_allowed_groups)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def groups_from(self, claims: dict) -> frozenset[str]:
        """The groups claim as group names here; :class:`SignInRefused` unless it is a list of
        names (absent means none: many providers leave it out for people in no group)."""
        value = claims.get(self.claim_names[3])
        if value is None:
            return frozenset()
        if not isinstance(value, list) or len(value) > _MAX_GROUPS or not all(
                isinstance(g, str) and g and len(self.prefix + g) <= GROUP_NAME_MAX and g == g.strip()
                and g.isprintable() for g in value):
            raise SignInRefused(f"the {self.claim_names[3]!r} claim is not a list of group names",
                                f"{self.name} sent a list of groups that cannot be read; ask an administrator.")
        return frozenset((self.prefix + g).lower() for g in value)

    def sign_in(self, uow: UnitOfWork, claims: dict, refresh_token: str | None) -> Identity:
        """The identity for claims the provider vouched for (a checked ID token, merged with
        userinfo); provisions or refreshes the account.  :class:`SignInRefused` if they may not."""
        name_claim, email_claim, display_claim, _ = self.claim_names
        raw_name = claims.get(name_claim)
        if not isinstance(raw_name, str) or not raw_name:
            raise SignInRefused(f"no {name_claim!r} claim", f"{self.name} did not say your user name "
                                f"(the {name_claim!r} claim); ask an administrator.")
        # Not stripped: a name with a newline or a space is refused, never quietly made another.
        name = raw_name.lower()
        try:
            check_user_name(name)
        except InvalidName as exc:
            raise SignInRefused(f"unusable user name: {exc}", f"Your user name at {self.name} cannot be used "
                                f"here: {exc}. Ask an administrator.") from None
        email = claims.get(email_claim) if isinstance(claims.get(email_claim), str) else None
        email = storable_copy(email.strip().lower(), _EMAIL_MAX) or None if email else None
        groups = self.groups_from(claims)
        self._check_allowed(email, claims.get("email_verified"), groups)
        subject = f"{self.issuer} {claims['sub']}"
        display = claims.get(display_claim)
        values = dict(email=email, display_name=storable_copy(display, _DISPLAY_MAX) or None
                      if isinstance(display, str) else None,
                      directory_groups="\n".join(sorted(groups)), groups_read_at=utcnow(),
                      oidc_refresh_token=refresh_token)
        user = self._provision(uow, subject, name, values)
        principal = Principal(user.name, bool(user.is_admin) or self.admin_group in groups,
                              credential=CredentialKind.PASSWORD, groups=groups)
        return Identity(principal, KIND, user.id, user.credential_version)

    def _check_allowed(self, email: str | None, verified, groups: frozenset[str]) -> None:
        # Only a verified address counts (email_verified true): where people may set their own
        # e-mail at the provider, an unverified one would let anyone claim the company's domain.
        if self.allowed_domains and not (email and verified is True
                                         and email.rpartition("@")[2] in self.allowed_domains):
            raise SignInRefused("e-mail domain not allowed", f"Your account at {self.name} may not sign in here "
                                "(its e-mail address is not in an allowed domain).")
        if self.allowed_groups and not groups & self.allowed_groups:
            raise SignInRefused("in no allowed group", f"Your account at {self.name} may not sign in here "
                                "(it is in none of the groups allowed to).")

    def _provision(self, uow: UnitOfWork, subject: str, name: str, values: dict):
        """The account bound to ``subject``, created on a first sign-in, refreshed otherwise."""
        columns = (_users.c.id, _users.c.name, _users.c.is_admin, _users.c.is_active, _users.c.credential_version)
        with uow.lasting() as connection:
            row = connection.execute(select(*columns).where(_users.c.oidc_subject == subject)).first()
            if row is None:
                self._refuse_taken(connection, name, values["email"])
                try:
                    with connection.begin_nested():
                        connection.execute(insert(_users).values(
                            name=name, password_hash=NO_PASSWORD, is_admin=False, is_active=True,
                            credential_version=1, source=OIDC_SOURCE, oidc_subject=subject, **values))
                except IntegrityError:
                    pass  # another request provisioned them first (or took the name): read again
                row = connection.execute(select(*columns).where(_users.c.oidc_subject == subject)).first()
                if row is None:
                    raise SignInRefused("user name taken", _taken_message(self.name, name))
            if not row.is_active:
                raise SignInRefused("account deactivated", "Your account here is deactivated; ask an administrator.")
            connection.execute(update(_users).where(_users.c.id == row.id).values(**values))
        return row

    def _refuse_taken(self, connection, name: str, email: str | None) -> None:
        """A new person may not take an existing account's name, nor share its e-mail address."""
        clash = or_(_users.c.name == name, func.lower(_users.c.email) == email) if email else _users.c.name == name
        if connection.execute(select(_users.c.id).where(clash).limit(1)).first() is not None:
            raise SignInRefused("user name or e-mail taken", _taken_message(self.name, name))

    def standing(self, uow: UnitOfWork, user) -> tuple[bool, frozenset[str]] | None:
        """(system administrator?, groups) for a stand-in credential of an OIDC person; None to
        refuse it.  Groups younger than ``credential_cache_ttl`` count as they are; older ones are
        asked of the provider again (:class:`ProviderUnavailable` if it does not answer)."""
        bound = dt.timedelta(seconds=uow.settings.credential_cache_ttl)
        if user.groups_read_at is not None and user.groups_read_at + bound > utcnow():
            groups = parse_groups(user.directory_groups)
        elif self.provider is None:
            return None  # the provider was unconfigured: nothing can vouch for them any more
        else:
            uow.before_slow_work()  # a call to the provider: never on the fast token path
            groups = self._groups_again(uow, user.id)
            if groups is None:
                return None
        return bool(user.is_admin) or self.admin_group in groups, groups

    def _groups_again(self, uow: UnitOfWork, user_id: int) -> frozenset[str] | None:
        """The person's groups from the provider now, stored with the time; None (and the refresh
        token dropped, so nothing asks again) when the provider no longer vouches for them."""
        row = uow.session.execute(select(User.oidc_refresh_token, User.oidc_subject)
                                  .where(User.id == user_id)).first()
        if row is None or not row.oidc_refresh_token:
            return None
        try:
            answer = self.provider.refresh(row.oidc_refresh_token)
            groups = self.groups_from(self._claims_after_refresh(answer, row.oidc_subject))
            if self.allowed_groups and not groups & self.allowed_groups:
                raise ProviderRefused("in no allowed group any more")
        except ProviderRefused:
            with uow.lasting() as connection:
                # Only the refresh token this request used: if another request (another worker)
                # refreshed first and the provider rotated the token, that one stays and counts.
                dropped = connection.execute(update(_users).where(
                    _users.c.id == user_id, _users.c.oidc_refresh_token == row.oidc_refresh_token)
                    .values(oidc_refresh_token=None, groups_read_at=None)).rowcount
                if dropped:
                    return None
                again = connection.execute(select(_users.c.directory_groups, _users.c.groups_read_at)
                                           .where(_users.c.id == user_id)).first()
            fresh = again is not None and again.groups_read_at is not None and again.groups_read_at + dt.timedelta(
                seconds=uow.settings.credential_cache_ttl) > utcnow()
            return parse_groups(again.directory_groups) if fresh else None
        with uow.lasting() as connection:
            connection.execute(update(_users).where(_users.c.id == user_id).values(
                directory_groups="\n".join(sorted(groups)), groups_read_at=utcnow(),
                oidc_refresh_token=answer.get("refresh_token") or row.oidc_refresh_token))
        return groups

    def _claims_after_refresh(self, answer: dict, subject: str | None) -> dict:
        """The person's claims now: the refresh's new ID token (Entra ID puts groups only there)
        merged over userinfo (where others put them); both must be about the bound subject."""
        claims = {}
        if isinstance(answer.get("id_token"), str):
            claims = self.provider.verify_id_token(answer["id_token"], nonce=None)
        if isinstance(self.provider.metadata().get("userinfo_endpoint"), str):
            claims = {**self.provider.userinfo(answer["access_token"]), **claims}
        if not claims or f"{self.issuer} {claims.get('sub')}" != subject:
            raise ProviderRefused("the refreshed claims are about another subject")
        return claims


def _taken_message(provider: str, name: str) -> str:
    return (f"The user name {name!r} (or your e-mail address) belongs to an account here that is not from "
            f"{provider}, so you cannot sign in as it; ask an administrator.")


__all__ = ["KIND", "NO_PASSWORD", "OidcAccounts", "SignInRefused"]
