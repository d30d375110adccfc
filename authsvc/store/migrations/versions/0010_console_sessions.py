"""Console sessions on the server, so that signing out ends them everywhere.

Until now a console session lived only in the browser's signed cookie: signing out cleared the
browser's copy, but any other copy of the cookie (a shared machine, a proxy log) kept opening
the signed-in pages until the idle or absolute limit (issue 20, finding 3).  Each sign-in now
adds a row here; the cookie carries the session's random secret, of which only the SHA-256 is
stored.  Signing out, or ending the session from My account, deletes the row.  Sessions opened
before this revision have no row: their people sign in again once.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_version", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_console_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    for column in ("user_id", "created_at", "last_used_at"):
        op.create_index(op.f(f"ix_console_sessions_{column}"), "console_sessions", [column], unique=False)


def downgrade():
    op.drop_table("console_sessions")
