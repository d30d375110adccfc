"""People from an OpenID Connect provider (issue 21).

``users.oidc_subject`` binds an account to the provider's ``iss`` and ``sub`` (the only claims an
OIDC provider promises never to reassign), so that a person who renames themself at the provider
keeps their account and never reaches another one.  ``users.oidc_refresh_token`` is the
provider's refresh token from the last sign-in, used to re-check the person's groups (and that the
provider still knows them) once they are older than ``credential_cache_ttl``; it is useless
without the client secret, which lives in a 0600 file and never in the database.

``oidc_logins`` holds the sign-ins under way: the SHA-256 of the ``state`` sent to the provider
with the ``nonce`` and the PKCE verifier that must come back with it.  A row is deleted as the
browser returns, so a ``state`` works once; rows older than ten minutes are refused and swept.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    # Columns added in place and a unique index (not a constraint): on SQLite a constraint would
    # make alembic copy the users table, and the copy would lose its AUTOINCREMENT (0007).
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("oidc_subject", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("oidc_refresh_token", sa.Text(), nullable=True))
    op.create_index(op.f("ix_users_oidc_subject"), "users", ["oidc_subject"], unique=True)
    op.create_table(
        "oidc_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_logins_state_hash")),
    )
    op.create_index(op.f("ix_oidc_logins_created_at"), "oidc_logins", ["created_at"], unique=False)


def downgrade():
    op.drop_table("oidc_logins")
    op.drop_index(op.f("ix_users_oidc_subject"), table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("oidc_refresh_token")
        batch.drop_column("oidc_subject")
