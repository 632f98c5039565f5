#!/usr/bin/env bash
# The runbook's smoke test: health, both plans to active, whoami, idempotent re-submit.
#
#   ./scripts/smoke-test.sh                            against $SYSTON_API_URL or 127.0.0.1:8000
#   ./scripts/smoke-test.sh --url https://api.example.com
#
# A thin wrapper over `syston smoke` (exit status 1 on any failure, naming what is wrong).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
syston="${SYSTON:-}"
if [[ -z "${syston}" ]]; then
    if [[ -x "${here}/.venv/bin/syston" ]]; then syston="${here}/.venv/bin/syston"; else syston=syston; fi
fi
exec "${syston}" smoke "$@"
