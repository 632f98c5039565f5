"""provision intake: the request to provision, committed with the signup

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Also files a request for every tenant an older version accepted but never saw a workflow for
(`processing` with no run recorded), so the relay heals those too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provision_intake",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    with op.batch_alter_table("provision_intake", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provision_intake_available_at"), ["available_at"], unique=False
        )
    # A workflow that started always records its run (its first activity), so these tenants
    # either never got one or got one that has not run yet; the relay's start is idempotent
    # either way (it attaches to a running workflow and never re-runs a finished one).
    op.execute(
        "INSERT INTO provision_intake (tenant_id, requested_at, available_at, attempts) "
        "SELECT id, created_at, created_at, 0 FROM tenants "
        "WHERE status = 'processing' AND workflow_run_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("provision_intake", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provision_intake_available_at"))
    op.drop_table("provision_intake")
