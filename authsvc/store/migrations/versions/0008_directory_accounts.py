"""Directory accounts: users signed in by LDAP / Active Directory, and groups as project members.

``users`` learns where its password is checked (``source``: ``local`` for every existing row,
``ldap`` for accounts provisioned at their first directory sign-in), the e-mail address and
display name the directory gives, and the groups last read from the directory with the time
they were read (they count only for ``credential_cache_ttl`` after it).  ``project_groups``
makes a directory group a member of a project with a role, like a person's membership.

SQLite adds the columns in place (ALTER TABLE ADD COLUMN keeps every row); the new table is
created with its CHECK on the role, as ``memberships`` has since 0007.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ROLES = ("admin", "maintainer", "developer", "guest")
ROLE_CHECK = "role IN ({})".format(", ".join(f"'{r}'" for r in ROLES))


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("source", sa.String(8), nullable=False, server_default="local"))
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("display_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("directory_groups", sa.Text(), nullable=True))
        batch.add_column(sa.Column("groups_read_at", sa.DateTime(), nullable=True))
    op.create_table(
        "project_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.CheckConstraint(ROLE_CHECK, name=op.f("ck_project_groups_role")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name=op.f("fk_project_groups_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_groups")),
        sa.UniqueConstraint("project_id", "group_name", name=op.f("uq_project_groups_project_id")),
    )


def downgrade():
    op.drop_table("project_groups")
    with op.batch_alter_table("users") as batch:
        for column in ("groups_read_at", "directory_groups", "display_name", "email", "source"):
            batch.drop_column(column)
