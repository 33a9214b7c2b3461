#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time and prints a table of time,
# executions and crashes. Needs a nightly toolchain and cargo-fuzz; installs both when missing.
# CI does not run this: a crash found here is fixed, and its input kept as a test in the normal
# suite (crates/<crate>/tests/fuzz_regressions.rs).
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   SECONDS_EACH=300 scripts/fuzz.sh config sword
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-60}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

# Seeds: the shipped configs for the config parser, and one small valid file of each binary
# format (written here, never committed) for the decoders, which random bytes rarely reach
# past the magic numbers; the rest start from nothing.
mkdir -p fuzz/corpus/config
cp configs/*.yaml configs/*/*.yaml configs/*/*/*.yaml fuzz/corpus/config/ 2>/dev/null || true
python3 - <<'PY'
import io, json, os, struct, wave, zlib
def put(target, name, data):
    os.makedirs(f"fuzz/corpus/{target}", exist_ok=True)
    with open(f"fuzz/corpus/{target}/{name}", "wb") as f:
        f.write(data)
b = io.BytesIO()
with wave.open(b, "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<hh", i * 300, -i * 300) for i in range(64)))
put("audio", "stereo.wav", b.getvalue())
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + bytes([(x * 60) % 256, 0, 255, 128]) for x in range(3) for _ in range(2))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 6, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
put("image", "rgba.png", b"\x05" + png)
put("image", "shape.svg", b"\x07" + b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    b'<circle cx="5" cy="5" r="4" fill="red"/><path d="M0 0L10 10" stroke="blue"/></svg>')
data = struct.pack("<6f", *range(6))
header = json.dumps({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                     "__metadata__": {"format": "pt"}}).encode()
put("checkpoint", "model.safetensors", struct.pack("<Q", len(header)) + header + data)
put("labelled", "vader", b"\x00" + b"1\t2.5\tGreat fun.\r\n2\t-1.2\tDull.\r\n")
put("labelled", "csv", b"\x01" + b'text,label\n"Loved it, truly",5\nMeh,3\n')
put("labelled", "tsv", b"\x02" + b"text\tlabel\nhi\tpos\n")
put("labelled", "jsonl", b"\x03" + b'{"text": "fine", "label": 1}\n{"text": "bad", "label": "no"}\n')
PY

cd fuzz
cargo +nightly fuzz build --release
rows=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    log=$(mktemp)
    start=$(date +%s)
    # -fork keeps fuzzing past a crash so one run reports them all; each crash is an artifact.
    cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=4096 \
        -fork=1 -ignore_crashes=1 >"$log" 2>&1 || true
    took=$(( $(date +%s) - start ))
    # With -fork, each job prints its final stats; their executions add up.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}' || true)
    if [ "$execs" = 0 ]; then
        execs=$(grep -o 'exec/s: [0-9]*\|#[0-9]*' "$log" | grep '#' | tail -1 | tr -d '#' || true)
    fi
    after=$(ls "artifacts/$t" | wc -l)
    rows+=("| $t | $took | ${execs:-?} | $(( after - before )) |")
    rm -f "$log"
done
echo "| target | seconds | executions | new crashes |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "crash inputs, if any: fuzz/artifacts/<target>/"
