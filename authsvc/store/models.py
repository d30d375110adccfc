"""The tables.  Schema changes go through the migrations in ``migrations/versions``.

``credential_version`` on a user is bumped by every change that must cut off
existing sessions (password change, deactivation); refresh tokens and the
verified-credential cache remember the version they were made under and are
refused once it moves.  This is how one worker's change reaches every other
worker at once: they all read the row they load anyway.
"""

from __future__ import annotations

import datetime as dt

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..core.policy import Role

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


#: ``users.source`` values: a password checked here, or by the directory (LDAP / Active Directory).
LOCAL_SOURCE = "local"
DIRECTORY_SOURCE = "ldap"
#: A person from the OpenID Connect provider (services/authn/oidc.py): no password here at all.
OIDC_SOURCE = "oidc"
#: Longest directory group name kept (a ``cn``, lower-cased).
GROUP_NAME_MAX = 200

#: Longest principal name stored (actors, creators, pushers): robot logins reach 111 characters.
PRINCIPAL_NAME_MAX = 120
#: Longest browser description kept for a console session (its User-Agent, cut).
CONSOLE_CLIENT_MAX = 200


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class User(db.Model):
    """An account.  Ids are never reused (AUTOINCREMENT on SQLite, a sequence elsewhere): whatever
    names an id -- a cached credential, an API token -- can never match a later account."""

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    credential_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    server_default=func.current_timestamp())
    #: Where the password is checked: ``local`` (password_hash) or ``ldap`` (the directory; the
    #: hash is then an unusable marker, see services/authn/directory.py).
    source: Mapped[str] = mapped_column(String(8), nullable=False, default=LOCAL_SOURCE,
                                        server_default=LOCAL_SOURCE)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: A directory user's groups (lower-case names, one per line) as last read from the directory,
    #: and when: they count only until ``groups_read_at + credential_cache_ttl``.
    directory_groups: Mapped[str | None] = mapped_column(Text, nullable=True)
    groups_read_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: An OIDC person's provider and subject (``iss`` + space + ``sub``, migration 0011): the
    #: account is found by it, never by a name or e-mail the person may change at the provider.
    oidc_subject: Mapped[str | None] = mapped_column(String(512), nullable=True, unique=True, index=True)
    #: The provider's refresh token from the last sign-in: how groups are re-checked (oidc.py).
    oidc_refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    server_default=func.current_timestamp())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True)


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    # Indexed: the token path looks memberships up by (user, project).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    #: One of core.policy.Role, held to it by a CHECK constraint (ck_memberships_role).
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, create_constraint=True, length=16,
                                            values_callable=lambda roles: [r.value for r in roles]),
                                       nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    server_default=func.current_timestamp())

    user: Mapped[User] = relationship(back_populates="memberships")
    project: Mapped[Project] = relationship(back_populates="memberships")


class GroupMembership(db.Model):
    """A directory group as a member of a project: everyone the directory puts in the group holds
    ``role`` there (a person's role is the highest of their own membership and their groups')."""

    __tablename__ = "project_groups"
    __table_args__ = (UniqueConstraint("project_id", "group_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    group_name: Mapped[str] = mapped_column(String(GROUP_NAME_MAX), nullable=False)
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, create_constraint=True, length=16,
                                            values_callable=lambda roles: [r.value for r in roles]),
                                       nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    server_default=func.current_timestamp())


class RefreshToken(db.Model):
    """A long-lived credential handed to ``docker login`` instead of keeping the password on disk.

    Only the SHA-256 of the token is stored: it is 256 bits of randomness, so
    a fast hash is enough and lets the lookup be a single indexed query.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    credential_version: Mapped[int] = mapped_column(Integer, nullable=False)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    server_default=func.current_timestamp())
    #: Written at most once a minute by the refresh-token verifier (migration 0009).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship()


class ConsoleSession(db.Model):
    """A signed-in browser of the web console (migration 0010).

    The cookie carries a random session secret; only its SHA-256 is stored, as for refresh
    tokens, so a copy of this table opens no session.  Signing out deletes the row, and every
    console request reads it (joined to its user, one indexed lookup), so a session ends for
    every worker and instance at once.  ``credential_version`` ties it to the password it was
    opened with; ``last_used_at`` is written at most every few minutes
    (services/credentials/console_sessions.py), never on every page view.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    credential_version: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The browser's User-Agent as it signed in, cut and made storable: for the person's own list.
    client: Mapped[str] = mapped_column(String(CONSOLE_CLIENT_MAX), nullable=False, default="")
    # Both indexed: expired sessions are deleted by either limit (absolute, idle).
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    last_used_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)


class OidcLogin(db.Model):
    """A sign-in through the OpenID provider under way (migration 0011): what the browser must
    bring back.  Deleted as it comes back, so a ``state`` is good once; only its SHA-256 is kept."""

    __tablename__ = "oidc_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    code_verifier: Mapped[str] = mapped_column(String(128), nullable=False)
    #: Where the console goes after the sign-in (a local path, checked when it was asked for).
    next_path: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)


class AuditEvent(db.Model):
    """One accountable event: a token grant, a failed login, or an administrative change.

    ``details`` is a small JSON document; secrets (passwords, tokens) are
    never put in it.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed: listing filters and purging by age both go by time.
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
    source: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    target: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    #: The X-Request-ID of the HTTP request that caused it (as in the request log); NULL from the CLI.
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class LoginFailure(db.Model):
    """Failed password attempts per (account, source address), shared by every worker and instance."""

    __tablename__ = "login_failures"
    __table_args__ = (UniqueConstraint("account", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(80), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Robot(db.Model):
    """A machine credential bound to one project, for CI jobs and Kubernetes pull secrets.

    Its login name is ``robot.<project>.<name>``; the secret is random, shown
    once, and stored as SHA-256 (it has 256 bits of entropy, so no slow hash
    is needed and checking it costs no bcrypt).
    """

    __tablename__ = "robots"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    actions: Mapped[str] = mapped_column(String(40), nullable=False)  # comma-separated: pull,push,delete
    description: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class TrustedIssuer(db.Model):
    """An OIDC issuer whose identity tokens robots may trust (migration 0012): a CI platform or a
    Kubernetes cluster's service-account issuer.  Keys come from its discovery document's
    ``jwks_uri``, or from ``jwks`` (a JWKS document stored here, for a cluster whose issuer
    cannot be reached); tokens must carry ``audience``."""

    __tablename__ = "trusted_issuers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    issuer: Mapped[str] = mapped_column(String(250), unique=True, nullable=False)
    audience: Mapped[str] = mapped_column(String(200), nullable=False)
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class RobotTrustPolicy(db.Model):
    """"Identity tokens of this issuer whose claims match these conditions may act as this robot"
    (migration 0012).  ``conditions`` is the JSON list of ``path=pattern`` strings, sorted
    (core/claim_conditions.py); a policy never gives more than the robot's own actions."""

    __tablename__ = "robot_trust_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), nullable=False, index=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("trusted_issuers.id", ondelete="RESTRICT"), nullable=False,
                                           index=True)
    conditions: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PersonalToken(db.Model):
    """A user's named, expiring token, usable as the password for docker login and the API.

    Stored as SHA-256 only.  It remembers the user's ``credential_version``,
    so a password change or deactivation ends it, like a refresh token.
    """

    __tablename__ = "personal_tokens"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    credential_version: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Repository(db.Model):
    """A repository seen in the registry's notifications (the inventory; not used for access)."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Tag(db.Model):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    digest: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pushed_by: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
    pushed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class NotificationEvent(db.Model):
    """Ids of registry notification events already applied: the registry retries, we apply once."""

    __tablename__ = "notification_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)


class RetiredProjectName(db.Model):
    """Names of deleted projects, kept so that nobody inherits the images left in the registry.

    Deleting a project cannot delete its images (they live in the registry's
    storage); a new project of the same name would hand them to its new
    members.  So a deleted name stays reserved until an operator, having
    removed those images, explicitly releases it.
    """

    __tablename__ = "retired_project_names"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    retired_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    retired_by: Mapped[str] = mapped_column(String(PRINCIPAL_NAME_MAX), nullable=False, default="")
