#!/usr/bin/env bash
# The runbook's log watcher: follow the JSON log, filtered, readable.
#
#   ./scripts/watch-logs.sh deny                       authorisation denials as they happen
#   ./scripts/watch-logs.sh signup | provision | errors
#   TENANT_ID=tenant_123 ./scripts/watch-logs.sh tenant
#   RAW=1 ./scripts/watch-logs.sh errors | jq .       the JSON lines unchanged
#
# Reads $LOG_FILE, or .data/logs/syston.log (`syston dev`); pass a file as the 2nd argument.
# A thin wrapper over `syston logs FILTER --follow --pretty` (see `syston logs --help`).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
syston="${SYSTON:-}"
if [[ -z "${syston}" ]]; then
    if [[ -x "${here}/.venv/bin/syston" ]]; then syston="${here}/.venv/bin/syston"; else syston=syston; fi
fi
filter="${1:-all}"
shift || true
args=("${filter}" --follow)
[[ -n "${TENANT_ID:-}" ]] && args+=(--tenant "${TENANT_ID}")
[[ -z "${RAW:-}" ]] && args+=(--pretty)
exec "${syston}" logs "${args[@]}" "$@"
