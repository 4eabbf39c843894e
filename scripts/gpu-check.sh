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
# The whole built-in catalogue, the attention entries (catalog/attention.yaml) included; compiled
# flex_attention builds Triton kernels once per mode, so one entry may take minutes.
"$py" -m detaudit audit --device cuda --timeout 300 --out "$out" 2>&1 | tee "$out/audit-cuda.log"
audit_rc=${PIPESTATUS[0]}
echo "== attention entries in the report"
"$py" - "$out" <<'PY'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("detaudit-*.json")):
    rows = [r for r in json.loads(path.read_text())["results"] if r["group"] == "observed"]
    print(f"{path.name}: {len(rows)} attention results")
    for r in rows:
        print(f"  {r['id']:34} {r['status']:8} {(r.get('kernel') or '')[:30]:30} {(r.get('message') or '')[:120]}")
PY
echo "== done: tests exit $tests_rc, audit exit $audit_rc; files in $out"
ls -l "$out"
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
