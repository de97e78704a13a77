#!/usr/bin/env bash
# ambientd side by side with torchsynth 1.0.2 on the CPU, by the rules of
# ../shared/anchors/README.md: the same audio seconds per case, alternated
# (torchsynth, ambientd, torchsynth, ambientd, ...), each run only once the machine is quiet,
# the load recorded before and after. Prints the ratios per case.
#
#   benches/side_by_side.sh                 # 2 rounds
#   ROUNDS=3 QUIET=1.0 benches/side_by_side.sh
#
# Environment: ROUNDS (2), QUIET (CPU pressure "some avg10" to wait for, 1.5), QUIET_WAIT
# (seconds to wait for it before running anyway, flagged NOT QUIET; 600), TORCHSYNTH_VENV
# (~/.cache/ambientd/torchsynth-venv, made by the anchors' recipe if missing), ANCHORS
# (../shared/anchors), OUT (a directory for the JSON and the table; a new temp dir).
#
# Cases (anchor → ambientd at the same audio seconds): "voice 4s bN" = N renders of 4 s of
# music from N seeds; the 30 s pad = one 30 s render; the 4-note chord (120 voice-seconds) =
# four 30 s renders; the 512-sample block = one 512-frame generator call. ambientd renders the
# whole music (several voices, delay, reverb, stereo), a superset of a torchsynth voice.
# Threads: torchsynth 2 (torch's default here) and 1 (--threads 1); ambientd "engine" 1,
# "render" 2 (the render thread and its writer thread, as `ambientd render` runs).
# Also the whole process as a user runs it, `ambientd render --seconds 600` to a file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-2}
QUIET=${QUIET:-1.5}
QUIET_WAIT=${QUIET_WAIT:-600}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
VENV=${TORCHSYNTH_VENV:-$HOME/.cache/ambientd/torchsynth-venv}
OUT=${OUT:-$(mktemp -d -t side-by-side.XXXXXX)}
mkdir -p "$OUT"

pressure() { awk '/^some/ { sub("avg10=", "", $2); print $2 }' /proc/pressure/cpu; }
load() { echo "pressure $(pressure), $(cut -d' ' -f1-3 /proc/loadavg) load avg"; }

# Waits until CPU pressure is below QUIET (at most QUIET_WAIT s); says whether it got there.
wait_quiet() {
    local waited=0
    while awk -v p="$(pressure)" -v q="$QUIET" 'BEGIN { exit !(p >= q) }'; do
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            echo "NOT QUIET ($(load)) after ${QUIET_WAIT} s: running anyway" >&2
            return 0
        fi
        sleep 5
        waited=$((waited + 5))
    done
    echo "quiet ($(load))" >&2
}

# torchsynth per the anchors' recipe (Python 3.9 + torch 1.12.1: the last self-contained wheel).
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torchsynth" 2>/dev/null; then
    PY39=$(command -v python3.9 2>/dev/null || true)
    if [ -z "$PY39" ] || ! "$PY39" --version >/dev/null 2>&1; then
        PY39=$(ls -d "$HOME"/.pyenv/versions/3.9*/bin/python3.9 2>/dev/null | tail -1)
    fi
    [ -n "$PY39" ] || { echo "need python3.9 (any 3.7-3.10) for torch 1.12.1" >&2; exit 1; }
    echo "== making the torchsynth venv in $VENV (776 MB download)" >&2
    "$PY39" -m venv "$VENV"
    "$VENV/bin/pip" install -q "torch==1.12.1" "numpy<2" "pytorch-lightning==1.8.6" \
        "torchmetrics<0.12" "torchsynth==1.0.2"
fi

echo "== building ambientd (release) and its side-by-side bench" >&2
cargo build --release --locked --bin ambientd >&2
cargo bench --locked --bench side_by_side --no-run >&2
BIN=$ROOT/target/release/ambientd
BENCH=$(ls -t "$ROOT"/target/release/deps/side_by_side-* | grep -v '\.d$' | head -1)

# The whole process, as a user runs it: median and min wall seconds of 5 renders of 600 s
# (seeds 1000..5000, after a warm-up), written to a new file in $OUT. The last run's file is
# removed before each timed run: overwriting it would time ext4 freeing 106 MB (30-40 ms
# here) and flushing the rewritten file on close (its auto_da_alloc), not the render.
whole_process() {
    local times=() seed start end
    "$BIN" render --backend cpu --seconds 600 --seed 0 --out "$OUT/whole.wav" >/dev/null
    for seed in 1000 2000 3000 4000 5000; do
        rm -f "$OUT/whole.wav"
        start=$(date +%s.%N)
        "$BIN" render --backend cpu --seconds 600 --seed "$seed" --out "$OUT/whole.wav" >/dev/null
        end=$(date +%s.%N)
        times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')")
    done
    rm -f "$OUT/whole.wav"
    printf '%s\n' "${times[@]}" | sort -g | awk '{ t[NR] = $1 } END { printf "%.4f %.4f\n", t[3], t[1] }'
}

{
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc)"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
} | tee "$OUT/table.txt" >&2

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round" >&2
    wait_quiet
    before=$(load)
    "$VENV/bin/python" "$ANCHORS/torchsynth_bench.py" --json --batches 1,8,32 \
        > "$OUT/torch2-$round.json"
    echo "torchsynth 2 threads: $before → $(load)" | tee -a "$OUT/table.txt" >&2
    wait_quiet
    before=$(load)
    "$BENCH" --json > "$OUT/ambientd-$round.json"
    echo "ambientd bench: $before → $(load)" | tee -a "$OUT/table.txt" >&2
    wait_quiet
    before=$(load)
    "$VENV/bin/python" "$ANCHORS/torchsynth_bench.py" --json --batches 1,8,32 --threads 1 \
        > "$OUT/torch1-$round.json"
    echo "torchsynth 1 thread: $before → $(load)" | tee -a "$OUT/table.txt" >&2
    wait_quiet
    before=$(load)
    whole_process > "$OUT/whole-$round.txt"
    echo "ambientd render --seconds 600 (whole process): $before → $(load)" \
        | tee -a "$OUT/table.txt" >&2
done

python3 - "$OUT" "$ROUNDS" <<'EOF' | tee -a "$OUT/table.txt"
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name, r):
    with open(f"{out}/{name}-{r}.json") as f:
        return json.load(f)
for r in range(1, rounds + 1):
    t2, t1, a = load("torch2", r), load("torch1", r), load("ambientd", r)
    torch_cases = {f"voice 4s b{b['batch_size']}": (b, c)
                   for b, c in zip(t2["batches"], t1["batches"])}
    for p2, p1 in zip(t2["pad"], t1["pad"]):
        torch_cases[f"{p2['label']} 30s"] = (p2, p1)
    print(f"\nround {r}: torchsynth load {t2['env']['load_before']} → "
          f"{t2['env']['load_after']} (2 thr), {t1['env']['load_before']} → "
          f"{t1['env']['load_after']} (1 thr)")
    print(f"{'case':<22}{'audio s':>8}{'torch RTF 2thr':>15}{'1thr':>8}"
          f"{'engine RTF 1thr':>16}{'render RTF 2thr':>16}"
          f"{'render/torch2':>14}{'engine/torch1':>14}")
    for c in a["cases"]:
        if c["label"] not in torch_cases:
            continue
        b2, b1 = torch_cases[c["label"]]
        print(f"{c['label']:<22}{c['audio_seconds']:>8.0f}{b2['rtf_median']:>15.1f}"
              f"{b1['rtf_median']:>8.1f}{c['engine_rtf_median']:>16.1f}"
              f"{c['render_rtf_median']:>16.1f}"
              f"{c['render_rtf_median'] / b2['rtf_median']:>13.2f}×"
              f"{c['engine_rtf_median'] / b1['rtf_median']:>13.2f}×")
    blk = a["block"]
    tb = t2["block"][0]
    print(f"block 512: ambientd {blk['median_s'] * 1e6:.1f} µs a call (RTF {blk['rtf_median']:.0f}), "
          f"torchsynth {tb['median_s'] * 1e3:.2f} ms a call (RTF {tb['rtf_median']:.1f}): "
          f"{tb['median_s'] / blk['median_s']:.0f}× faster")
    music = next(c for c in a["cases"] if c["label"] == "music 600s")
    with open(f"{out}/whole-{r}.txt") as f:
        median_s, min_s = map(float, f.read().split())
    chord = torch_cases["pad 4-note chord 30s"][0]["rtf_median"]
    print(f"600 s: engine (1 thr, 100 ms chunks) {music['engine_rtf_median']:.0f}×, "
          f"render_to {music['render_rtf_median']:.0f}×, whole process "
          f"`ambientd render --seconds 600` {600 / median_s:.0f}× (median {median_s:.3f} s, "
          f"min {min_s:.3f} s) = {600 / median_s / music['engine_rtf_median'] * 100:.0f} % of "
          f"the engine and {600 / median_s / chord:.2f}× torchsynth's chord")
EOF
echo "JSON and table in $OUT" >&2
