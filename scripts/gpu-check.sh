#!/usr/bin/env bash
# One command for a GPU machine: the CUDA tests, then a full --device cuda audit.
#   scripts/gpu-check.sh OUT_DIR
# Writes OUT_DIR/pytest-cuda.log, the report (json, md) and two-ways.log (the backward
# entries whose two observations differ) to OUT_DIR.
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
echo "== done: tests exit $tests_rc, audit exit $audit_rc; files in $out"
ls -l "$out"
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
