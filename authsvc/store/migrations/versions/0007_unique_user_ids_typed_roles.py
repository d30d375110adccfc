"""User ids are never reused, and a membership's role is one of the four roles.

SQLite hands a new row the highest id in use plus one, so deleting the newest
user and creating another gave the new account the old one's id -- and with
it whatever still named that id (a verified-credential cache entry, an API
token).  AUTOINCREMENT makes SQLite remember the highest id ever used.
PostgreSQL's sequences never go back, so only SQLite's table changes.  (Ids
of users deleted *before* this migration, above the highest id left, cannot
be known any more; every id from here on is new.)

The role column had no constraint: a CHECK now holds it to the roles
``core.policy.Role`` knows.

SQLite rebuilds both tables (copy, drop, rename): ``schema.upgrade`` turns its
foreign keys off around migrations, or dropping ``users`` would cascade into
every membership and token.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLES = ("admin", "maintainer", "developer", "guest")
ROLE_CHECK = "role IN ({})".format(", ".join(f"'{r}'" for r in ROLES))


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
        with op.batch_alter_table("memberships", recreate="always") as batch:
            batch.create_check_constraint(op.f("ck_memberships_role"), sa.text(ROLE_CHECK))
    else:
        op.create_check_constraint(op.f("ck_memberships_role"), "memberships", sa.text(ROLE_CHECK))


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("memberships", recreate="always") as batch:
            batch.drop_constraint(op.f("ck_memberships_role"), type_="check")
        with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
    else:
        op.drop_constraint(op.f("ck_memberships_role"), "memberships", type_="check")
