#!/usr/bin/env bash
# One command for a GPU machine: the CUDA tests, a full --device cuda audit (every entry of
# the built-in catalogue, backward entries observed two ways), then a --compile audit
# (torch.compile, Inductor/Triton) of the atomic-add entries and compiled flex_attention.
#   scripts/gpu-check.sh OUT_DIR
# Writes OUT_DIR/pytest-cuda.log, OUT_DIR/audit-DEVICE.log, the report (json, md) and
# two-ways.log (the backward entries whose two observations differ) to OUT_DIR, the compiled
# audit's report and log to OUT_DIR/compile.
# Runs from a checkout without installing: PYTHONPATH points at it. Needs torch, numpy, pyyaml,
# pytest and rich; no network. Without expecttest the OpInfo (discover) tests skip, saying so.
#
# The same steps run on CPU for CI (tests/test_gpu_check.py), so that this shell does not rot:
#   DETAUDIT_GPU_CHECK_DEVICE=cpu   every audit runs --device cpu; nvidia-smi is not asked
#   DETAUDIT_GPU_CHECK_ONLY="a b"   both audits take only these entry ids (default: the full
#                                   catalogue, and the compiled subset below)
#   DETAUDIT_GPU_CHECK_TESTS="..."  what pytest collects (default: tests)
#   DETAUDIT_GPU_CHECK_COMPILE=B    the --compile backend (default: inductor)
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
device=${DETAUDIT_GPU_CHECK_DEVICE:-cuda}
backend=${DETAUDIT_GPU_CHECK_COMPILE:-inductor}
read -r -a tests <<< "${DETAUDIT_GPU_CHECK_TESTS:-tests}"
only=()
for id in ${DETAUDIT_GPU_CHECK_ONLY:-}; do only+=(--only "$id"); done
# The compiled subset: the atomic-add entries and compiled flex_attention.
compiled=(--only index-add --only scatter-add-1d --only scatter-add-nd
  --only index-put-accumulate-false --only index-put-accumulate-true-cpu
  --only flex-attention-compiled-forward --only flex-attention-compiled-backward)
[ ${#only[@]} -gt 0 ] && compiled=("${only[@]}")

if [ "$device" = cuda ]; then
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
else
  echo "== --device $device (DETAUDIT_GPU_CHECK_DEVICE): the script's own check, no GPU asked"
fi
"$py" -c "import sys, torch; print('python', sys.version.split()[0], '· torch', torch.__version__, '· cuda', torch.version.cuda)"
echo "== CUDA tests"
# -rs: each skip's reason (no GPU; no expecttest for the OpInfo tests) is in the log.
"$py" -m pytest -m cuda -q -rs -p no:cacheprovider "${tests[@]}" 2>&1 | tee "$out/pytest-cuda.log"
tests_rc=${PIPESTATUS[0]}
# pytest exits 5 when it collects nothing: with no test selected, nothing failed.
[ "$tests_rc" -eq 5 ] && tests_rc=0
echo "== audit --device $device"
# The whole built-in catalogue, the attention entries (catalog/attention.yaml) included
# (compiled flex_attention is skipped here: it runs in the --compile audit below).
"$py" -m detaudit audit --device "$device" ${only[@]+"${only[@]}"} --timeout 300 --out "$out" 2>&1 |
  tee "$out/audit-$device.log"
audit_rc=${PIPESTATUS[0]}
echo "== entries from PyTorch's source (cuBLAS with CUBLAS_WORKSPACE_CONFIG unset/:4096:8, grid_sample 3-D and cuDNN, antialias)"
"$py" - "$out" <<'PY' || true
import json, pathlib, sys
report = json.loads(next(pathlib.Path(sys.argv[1]).glob("detaudit-*.json")).read_text())
print("caller's CUBLAS_WORKSPACE_CONFIG:", report["environment"].get("cublas_workspace_config"))
for r in report["results"]:
    if r["id"].startswith(("cublas-", "grid-sample-")) or r["id"].endswith("-antialias-backward"):
        env = (r.get("strict") or {}).get("env")
        print(f"{r['id']:42} {r['status']:9} kernel={r.get('kernel')} env={env} patterns={r.get('distinct_on')}/{r.get('runs_mode_on')}")
PY
echo "== entries whose strict run did not reach their op (decomposed under the mode)"
"$py" - "$out" <<'PY' || true
import pathlib, sys
from detaudit.model.reportfile import load_report
for path in sorted(pathlib.Path(sys.argv[1]).glob("detaudit-*.json")):
    missed = [r for r in load_report(path).results if r.reach_note]
    print(f"{path.name}: {len(missed)} not reached")
    for r in missed:
        print(f"  {r.id} on {r.device}: {r.status.value}; {r.reach_note}")
PY
echo "== audit --device $device --compile $backend (index_add, scatter_add, index_put, compiled flex_attention)"
mkdir -p "$out/compile"
"$py" -m detaudit audit --device "$device" --compile "$backend" "${compiled[@]}" --out "$out/compile" 2>&1 |
  tee "$out/compile/audit-$device-compile.log"
compile_rc=${PIPESTATUS[0]}
echo "== observed-group entries in the report (attention, and the cases that must not alert)"
"$py" - "$out" <<'PY'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("detaudit-*.json")):
    rows = [r for r in json.loads(path.read_text())["results"] if r["group"] == "observed"]
    print(f"{path.name}: {len(rows)} observed-group results")
    for r in rows:
        print(f"  {r['id']:34} {r['status']:8} {(r.get('kernel') or '')[:30]:30} {(r.get('message') or '')[:120]}")
PY
# Backward entries are observed two ways (mode on throughout, and for the backward only):
# list where the two differ, from the report just written.
echo "== backward entries, two ways"
"$py" - "$out" <<'EOF' 2>&1 | tee "$out/two-ways.log"
import pathlib, sys
from detaudit.model.reportfile import load_report
from detaudit.render.markdown import two_ways, two_ways_reading
for path in sorted(pathlib.Path(sys.argv[1]).glob("detaudit-*.json")):
    differ, unobserved, both = two_ways(load_report(path).results)
    print(f"{path.name}: {len(differ)} of {both} backward results differ, "
          f"{len(unobserved)} not observed backward-only")
    for r in differ + unobserved:
        print(f"  {r.id} on {r.device}: {two_ways_reading(r)}")
EOF
echo "== done: tests exit $tests_rc, audit exit $audit_rc, compile audit exit $compile_rc;" \
  "files in $out"
ls -l "$out" "$out/compile"
# An audit exits 1 for findings (drift, compiled differs): the run itself worked.
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -le 1 ] && [ "$compile_rc" -le 1 ]
