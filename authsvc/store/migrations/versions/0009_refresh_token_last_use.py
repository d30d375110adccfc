"""When each refresh token (a ``docker login``) was last used.

The console's "docker logins" list shows, per device, the client it named and when it last
asked for a token, so that a user can tell a machine still in use from one long gone before
revoking.  The refresh-token verifier writes it at most once a minute per token (as the
personal-token verifier does for ``personal_tokens.last_used_at``), so the token path gains no
write per request.  NULL: not used since this release.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("last_used_at")
