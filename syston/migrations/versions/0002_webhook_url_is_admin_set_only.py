"""tenant_resources.webhook_url holds only an admin-set URL

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

configure_webhook used to store the URL it delivered to, so a tenant on the platform's hook had
that hook stored as if it were its own: once the operator moved MAKE_WEBHOOK_URL, the old value
was policed as a tenant URL and refused. From now on the column is only ever written by the
admin route (POST /api/v1/admin/tenant/webhook), and a tenant without a value follows the
platform's current hook. The admin route has always recorded a `webhook_updated` audit entry in
the same transaction as the URL, so a stored URL without one is a platform hook: cleared here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

resources = sa.table("tenant_resources", sa.column("tenant_id"), sa.column("webhook_url"))
audit_log = sa.table("audit_log", sa.column("tenant_id"), sa.column("action"))


def upgrade() -> None:
    set_by_an_admin = sa.exists().where(
        audit_log.c.tenant_id == resources.c.tenant_id,
        audit_log.c.action == "webhook_updated",
    )
    op.execute(
        resources.update()
        .where(resources.c.webhook_url.is_not(None), ~set_by_an_admin)
        .values(webhook_url=None)
    )


def downgrade() -> None:
    # Nothing to restore: the previous release also reads an empty URL as "the platform's
    # hook", which is what these tenants use.
    pass
