"""Keyless machines (issue 22): trusted OIDC issuers, and trust policies on robots.

A CI job or a Kubernetes pod already holds a short-lived identity token signed by its platform.
``trusted_issuers`` names the platforms a system administrator trusts (issuer URL, the audience
their tokens must carry, and optionally the JWKS itself for an issuer that cannot be reached);
``robot_trust_policies`` says which of their tokens -- by conditions on the claims -- may act as
a robot.  An issuer cannot be removed while a policy uses it (RESTRICT): removing it would
silently end every pipeline that relies on it, so the policies go first, by name.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "trusted_issuers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=250), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_issuers")),
        sa.UniqueConstraint("name", name=op.f("uq_trusted_issuers_name")),
        sa.UniqueConstraint("issuer", name=op.f("uq_trusted_issuers_issuer")),
    )
    op.create_table(
        "robot_trust_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("robot_id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["robot_id"], ["robots.id"], name=op.f("fk_robot_trust_policies_robot_id_robots"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["issuer_id"], ["trusted_issuers.id"],
                                name=op.f("fk_robot_trust_policies_issuer_id_trusted_issuers"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_trust_policies")),
    )
    op.create_index(op.f("ix_robot_trust_policies_robot_id"), "robot_trust_policies", ["robot_id"], unique=False)
    op.create_index(op.f("ix_robot_trust_policies_issuer_id"), "robot_trust_policies", ["issuer_id"], unique=False)


def downgrade():
    op.drop_table("robot_trust_policies")
    op.drop_table("trusted_issuers")
