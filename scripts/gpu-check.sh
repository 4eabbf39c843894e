#!/usr/bin/env bash
# One command for a GPU machine: the CUDA tests, then a full --device cuda audit.
#   scripts/gpu-check.sh OUT_DIR
# Writes OUT_DIR/pytest-cuda.log and the report (json, md) to OUT_DIR.
# Runs from a checkout without installing: PYTHONPATH points at it.
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}

echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
echo "== CUDA tests"
"$py" -m pytest -m cuda -q -p no:cacheprovider tests 2>&1 | tee "$out/pytest-cuda.log"
tests_rc=${PIPESTATUS[0]}
echo "== audit --device cuda"
"$py" -m detaudit audit --device cuda --out "$out" 2>&1 | tee "$out/audit-cuda.log"
audit_rc=${PIPESTATUS[0]}
echo "== done: tests exit $tests_rc, audit exit $audit_rc; files in $out"
ls -l "$out"
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
