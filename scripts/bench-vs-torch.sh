#!/usr/bin/env bash
# rnnzoo against PyTorch on this machine: runs shared/bench/torch_rnn_bench.py and `rnnzoo bench`
# alternately, config by config, round by round, at 1 and 2 threads, and prints the ratio table
# (ratio = PyTorch ms / rnnzoo ms: above 1 means rnnzoo is faster). Medians over rounds.
#
#   scripts/bench-vs-torch.sh                     # all configs, 1 and 2 threads, 3 rounds
#   CONFIGS=a,d THREADS=1 ROUNDS=5 scripts/bench-vs-torch.sh
#   RNNZOO_BIN=target/debug/rnnzoo ROUNDS=1 scripts/bench-vs-torch.sh   # reuse the test build
#
# PyTorch comes from $TORCH_PYTHON if set, else the first python3 that imports torch, else a
# local venv (.venv-torch) into which torch==2.15.0 is installed (about 5 GB).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reference="${TORCH_BENCH:-$root/../shared/bench/torch_rnn_bench.py}"
configs="${CONFIGS:-a,b,c,d,e,f,g,g_pad,h,h_pad,i}"
threads="${THREADS:-1 2}"
rounds="${ROUNDS:-3}"
out="${OUT_DIR:-$(mktemp -d)}"
mkdir -p "$out"

[ -f "$reference" ] || { echo "error: $reference not found (set TORCH_BENCH)" >&2; exit 2; }

python="${TORCH_PYTHON:-}"
if [ -z "$python" ]; then
  if python3 -c 'import torch' 2>/dev/null; then
    python=python3
  else
    venv="$root/.venv-torch"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
      echo "installing torch==2.15.0 into $venv (about 5 GB)..." >&2
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet torch==2.15.0
    fi
    python="$venv/bin/python"
  fi
fi

# $RNNZOO_BIN: an rnnzoo binary already built (for example target/debug/rnnzoo, whose dependencies
# are optimised as in release); otherwise a release build is made.
rnnzoo="${RNNZOO_BIN:-}"
if [ -z "$rnnzoo" ]; then
  (cd "$root" && cargo build --release --quiet -p rnnzoo)
  rnnzoo="$root/target/release/rnnzoo"
fi

echo "results in $out; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for th in $threads; do
  for r in $(seq 1 "$rounds"); do
    for c in ${configs//,/ }; do
      "$python" "$reference" --json --threads "$th" --configs "$c" > "$out/torch-t$th-$c-r$r.json" 2>/dev/null
      # g_pad is PyTorch's unpacked fast path of g: rnnzoo always masks the padding, so its g
      # stands against both.
      RAYON_NUM_THREADS="$th" "$rnnzoo" bench --json --threads "$th" --configs "${c%_pad}" > "$out/rnnzoo-t$th-$c-r$r.json" 2>/dev/null
      echo "  threads $th round $r config $c done" >&2
    done
  done
done

python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for path in glob.glob(os.path.join(out, "*.json")):
    impl, th, key, _ = os.path.basename(path)[:-5].split("-")
    with open(path) as f:
        data = json.load(f)
    for r in data["results"]:
        row = rows.setdefault((int(th[1:]), key), {"name": r["name"]})
        if impl == "torch":
            row["name"] = r["name"]
        row.setdefault(impl, []).append(r["ms_per_step"])
load = open("/proc/loadavg").read().split()[:3]
print(f"load average after: {' '.join(load)}  (medians over rounds; ratio = torch / rnnzoo)")
print(f"{'threads':>7} {'config':<22} {'torch ms':>10} {'rnnzoo ms':>10} {'ratio':>7}")
for (th, key), impls in sorted(rows.items()):
    name = impls["name"]
    t = statistics.median(impls.get("torch", [float("nan")]))
    z = statistics.median(impls.get("rnnzoo", [float("nan")]))
    print(f"{th:>7} {key + ' ' + name:<22} {t:>10.2f} {z:>10.2f} {t / z:>7.2f}")
PY
