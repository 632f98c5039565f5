"""Every Temporal name ops and code use, in one place (docs/temporal.md).

Pure constants: the workflow sandbox imports this module, so it does no I/O and pulls in no
client code (the connection lives in `syston.core.temporal_client`).
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

# -- workflows ---------------------------------------------------------------------------------
PROVISION_WORKFLOW: Final = "ProvisionTenant"

# -- signals and queries -----------------------------------------------------------------------
RETRY_SIGNAL: Final = "retry"
OVERRIDE_SIGNAL: Final = "status_overridden"
PROGRESS_QUERY: Final = "progress"

# -- activities --------------------------------------------------------------------------------
# The ledger activities; each provisioning step's activity is named after the step.
ACTIVITY_BEGIN: Final = "begin_provisioning"
ACTIVITY_RECORD_FAILURE: Final = "record_provisioning_failure"
ACTIVITY_RESUME: Final = "resume_provisioning"
ACTIVITY_CREATE_SHEET: Final = "create_sheet"
ACTIVITY_CONFIGURE_WEBHOOK: Final = "configure_webhook"
ACTIVITY_MARK_ACTIVE: Final = "mark_active"

# -- search attributes (registered by `syston dev` / `syston temporal`) ------------------------
TENANT_ID_ATTR = SearchAttributeKey.for_keyword("TenantId")
TENANT_PLAN_ATTR = SearchAttributeKey.for_keyword("TenantPlan")
PROVISION_STATUS_ATTR = SearchAttributeKey.for_keyword("ProvisionStatus")
SEARCH_ATTRIBUTE_NAMES: Final = tuple(
    key.name for key in (TENANT_ID_ATTR, TENANT_PLAN_ATTR, PROVISION_STATUS_ATTR)
)


def provision_workflow_id(tenant_id: str) -> str:
    """The id of a tenant's ProvisionTenant workflow (one per tenant, ever)."""
    return f"provision-{tenant_id}"
