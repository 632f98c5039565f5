#!/usr/bin/env bash
# The production shape without containers: two `syston api` and two `syston worker` processes
# on PostgreSQL against the Temporal dev server, behind a small reverse proxy trusted through
# FORWARDED_ALLOW_IPS; a burst of signups from distinct client addresses is rate-limited per
# client and every tenant reaches `active` (scripts/production_shape.py says how).
#
#   ./scripts/production-shape.sh          PostgreSQL at $SYSTON_TEST_PG (default: local postgres)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-${here}/.venv/bin/python}"
cd "${here}"
exec "${python}" scripts/production_shape.py "$@"
