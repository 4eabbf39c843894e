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
echo "== entries from PyTorch's source (cuBLAS with CUBLAS_WORKSPACE_CONFIG unset/:4096:8, grid_sample 3-D, antialias)"
"$py" - "$out" <<'PY' || true
import json, pathlib, sys
report = json.loads(next(pathlib.Path(sys.argv[1]).glob("*.json")).read_text())
print("caller's CUBLAS_WORKSPACE_CONFIG:", report["environment"].get("cublas_workspace_config"))
for r in report["results"]:
    if r["id"].startswith(("cublas-", "grid-sample-3d-")) or r["id"].endswith("-antialias-backward"):
        env = (r.get("strict") or {}).get("env")
        print(f"{r['id']:42} {r['status']:9} kernel={r.get('kernel')} env={env} patterns={r.get('distinct_on')}/{r.get('runs_mode_on')}")
PY
echo "== done: tests exit $tests_rc, audit exit $audit_rc; files in $out"
ls -l "$out"
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
