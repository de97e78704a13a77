#!/usr/bin/env bash
# The GPU figures of issue 15, in one short run for a borrowed GPU machine (about 5 minutes
# after the build; each step is bounded):
#   1. the GPU tests (bit-identical whole render with the batched voice stage, no allocation);
#   2. benches/cuda_stage.rs: per block, one 64-block launch, and 60 s of music through the
#      generator (voice stage real-time factor with batches; goal >= 10,000x);
#   3. the whole process, `ambientd render --seconds 600`, backend cuda against cpu, 3 each,
#      alternated (goal: cuda faster than cpu), with the output compared byte for byte.
#
#   benches/gpu_figures.sh [OUT_DIR]
# Prints everything; also writes it to OUT_DIR/gpu_figures.txt (default: a temp dir).
# On a GPU machine without a Rust toolchain, build the three programs elsewhere and point
# PREBUILT at a folder holding them as `ambientd`, `cuda_gpu` (the test) and `cuda_stage`
# (the bench):
#   cargo build --release --locked --bin ambientd
#   cargo bench --locked --bench cuda_stage --no-run             # prints the bench's path
#   cargo test --release --locked --all-features --test cuda_gpu --no-run   # and the test's
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(mktemp -d -t gpu-figures.XXXXXX)}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_figures.txt") 2>&1

echo "== machine"
grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-
nproc
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(head -1 /proc/pressure/cpu)"
git rev-parse --short HEAD 2>/dev/null || true

if [[ -n ${PREBUILT:-} ]]; then
    echo "== prebuilt programs in $PREBUILT"
    BIN=$PREBUILT/ambientd
    echo "== GPU tests"
    timeout 300 "$PREBUILT/cuda_gpu" --ignored --nocapture --test-threads 1
    echo "== cuda_stage bench"
    timeout 300 "$PREBUILT/cuda_stage" --bench
else
    echo "== build (release)"
    cargo build --release --locked --bin ambientd
    BIN=target/release/ambientd
    echo "== GPU tests"
    timeout 300 cargo test --locked --all-features --test cuda_gpu -- --ignored --nocapture
    echo "== cuda_stage bench"
    timeout 300 cargo bench --locked --bench cuda_stage
fi

echo "== whole process: ambientd render --seconds 600, cuda vs cpu (alternated)"
for round in 1 2 3; do
    for backend in cuda cpu; do
        start=$(date +%s.%N)
        timeout 120 "$BIN" render --backend "$backend" --seconds 600 --seed 1 \
            --out "$OUT/$backend.wav" > "$OUT/$backend.log"
        end=$(date +%s.%N)
        awk -v a="$start" -v b="$end" -v be="$backend" -v r="$round" \
            'BEGIN { printf "round %d %-4s %.3f s = %.0fx real time\n", r, be, b - a, 600 / (b - a) }'
        grep -h "voice stage" "$OUT/$backend.log" | head -1
    done
    if cmp -s "$OUT/cuda.wav" "$OUT/cpu.wav"; then
        echo "round $round: cuda and cpu files identical"
    else
        echo "round $round: cuda and cpu files DIFFER"
    fi
done
rm -f "$OUT/cuda.wav" "$OUT/cpu.wav"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg), $(head -1 /proc/pressure/cpu)"
echo "figures in $OUT/gpu_figures.txt"
