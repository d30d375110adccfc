"""Room for robot logins (up to 111 characters) wherever a principal's name is stored.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = [("audit_events", "actor"), ("robots", "created_by"), ("tags", "pushed_by"),
           ("retired_project_names", "retired_by")]


def upgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.String(length=80), type_=sa.String(length=120),
                               existing_nullable=False)


def downgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.String(length=120), type_=sa.String(length=80),
                               existing_nullable=False)
