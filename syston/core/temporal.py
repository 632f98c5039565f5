"""Every Temporal name ops and code use, in one place (docs/temporal.md).

Pure constants: the workflow sandbox imports this module, so it does no I/O and pulls in no
client code (the connection lives in `syston.core.temporal_client`).
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

# -- workflows ---------------------------------------------------------------------------------
PROVISION_WORKFLOW: Final = "ProvisionTenant"
PLAN_CHANGE_WORKFLOW: Final = "ChangePlan"
OFFBOARD_WORKFLOW: Final = "OffboardTenant"

# -- signals and queries -----------------------------------------------------------------------
RETRY_SIGNAL: Final = "retry"
OVERRIDE_SIGNAL: Final = "status_overridden"
PROGRESS_QUERY: Final = "progress"
CANCEL_OFFBOARD_SIGNAL: Final = "cancel_offboarding"

# -- activities --------------------------------------------------------------------------------
# The ledger activities; each provisioning step's activity is named after the step.
ACTIVITY_BEGIN: Final = "begin_provisioning"
ACTIVITY_RECORD_FAILURE: Final = "record_provisioning_failure"
ACTIVITY_RESUME: Final = "resume_provisioning"
ACTIVITY_CREATE_SHEET: Final = "create_sheet"
ACTIVITY_CONFIGURE_WEBHOOK: Final = "configure_webhook"
ACTIVITY_MARK_ACTIVE: Final = "mark_active"
# The lifecycle workflows' ledger activities and steps (ChangePlan, OffboardTenant).
ACTIVITY_BEGIN_OPERATION: Final = "begin_operation"
ACTIVITY_RECORD_OPERATION_FAILURE: Final = "record_operation_failure"
ACTIVITY_RESUME_OPERATION: Final = "resume_operation"
ACTIVITY_FINISH_OPERATION: Final = "finish_operation"
ACTIVITY_BEGIN_DELETION: Final = "begin_deletion"
ACTIVITY_PLAN_CREATE_SHEET: Final = "plan_create_sheet"
ACTIVITY_PLAN_ANNOUNCE: Final = "plan_announce"
ACTIVITY_PLAN_APPLY: Final = "plan_apply"
ACTIVITY_OFFBOARD_TRANSFER_SHEET: Final = "offboard_transfer_sheet"
ACTIVITY_OFFBOARD_NOTIFY: Final = "offboard_notify"
ACTIVITY_OFFBOARD_CLEAR_WEBHOOK: Final = "offboard_clear_webhook"
ACTIVITY_OFFBOARD_REVOKE_TOKENS: Final = "offboard_revoke_tokens"
ACTIVITY_OFFBOARD_ERASE: Final = "offboard_erase_personal_data"
ACTIVITY_OFFBOARD_MARK_DELETED: Final = "offboard_mark_deleted"

# -- versioning patches (`workflow.patched`): runs already in flight keep their old commands ------
# ProvisionTenant records its run with a local activity (no activity task, no extra workflow
# task) and publishes ProvisionStatus only when it changes.
PATCH_LOCAL_BEGIN: Final = "local-begin"

# -- search attributes (registered by `syston dev` / `syston temporal`) ------------------------
TENANT_ID_ATTR = SearchAttributeKey.for_keyword("TenantId")
TENANT_PLAN_ATTR = SearchAttributeKey.for_keyword("TenantPlan")
PROVISION_STATUS_ATTR = SearchAttributeKey.for_keyword("ProvisionStatus")
# provision | plan_change | offboard
LIFECYCLE_OPERATION_ATTR = SearchAttributeKey.for_keyword("LifecycleOperation")
SEARCH_ATTRIBUTES: Final = (
    TENANT_ID_ATTR,
    TENANT_PLAN_ATTR,
    PROVISION_STATUS_ATTR,
    LIFECYCLE_OPERATION_ATTR,
)
SEARCH_ATTRIBUTE_NAMES: Final = tuple(key.name for key in SEARCH_ATTRIBUTES)


def provision_workflow_id(tenant_id: str) -> str:
    """The id of a tenant's ProvisionTenant workflow (one per tenant, ever)."""
    return f"provision-{tenant_id}"


def plan_change_workflow_id(tenant_id: str) -> str:
    """The id of a tenant's ChangePlan workflow (one at a time; reused by the next change)."""
    return f"plan-{tenant_id}"


def offboard_workflow_id(tenant_id: str) -> str:
    """The id of a tenant's OffboardTenant workflow."""
    return f"offboard-{tenant_id}"
