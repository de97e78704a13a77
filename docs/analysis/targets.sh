#!/bin/sh
# Reproduces the targets table of docs/music.md (run from the repository root, after
# `cargo build --release --bin ambientd --example score_log`). Seeds 101..808 were never
# used while tuning (tuning used seeds 7 and 31). Writes JSON lines to stdout.
set -e
A=target/release/ambientd
LOG=target/release/examples/score_log
M="python3 docs/analysis/measure.py"
OUT=${OUT:-/tmp/ambientd-targets}
mkdir -p "$OUT"

# Loudness, LRA, true peak and spectral balance of 10-minute renders.
for seed in 101 202 303 404; do
  for i in 0 0.5 1; do
    $A render --seconds 600 --out "$OUT/s$seed-i$i.wav" --seed $seed --intensity $i >/dev/null 2>&1
    echo "{\"seed\":$seed,\"intensity\":$i,\"loudness\":$($M loudness "$OUT/s$seed-i$i.wav"),\"bands\":$($M bands "$OUT/s$seed-i$i.wav")}"
  done
done
for setting in "505 40 D_minor" "606 120 C_major" "707 90 F#_minor"; do
  set -- $setting
  key=$(echo $3 | tr _ ' ')
  $A render --seconds 600 --out "$OUT/x$1.wav" --seed $1 --bpm $2 --key "$key" >/dev/null 2>&1
  echo "{\"seed\":$1,\"bpm\":$2,\"key\":\"$key\",\"loudness\":$($M loudness "$OUT/x$1.wav"),\"bands\":$($M bands "$OUT/x$1.wav")}"
done

# The composer's own log: chord changes at 120 bpm, melody density at intensity 1,
# openings and cadences at the defaults (30 minutes each).
for seed in 101 202 303 404 505 606 707 808; do
  $LOG $seed 30 120 "A minor" 0.5 > "$OUT/log120-$seed.jsonl"
  $LOG $seed 30 70 "A minor" 1 > "$OUT/logi1-$seed.jsonl"
  $LOG $seed 30 70 "E major" 0.5 > "$OUT/logdef-$seed.jsonl"
  echo "{\"seed\":$seed,\"bpm120\":$($M log "$OUT/log120-$seed.jsonl"),\"intensity1\":$($M log "$OUT/logi1-$seed.jsonl"),\"defaults_E_major\":$($M log "$OUT/logdef-$seed.jsonl")}"
done

# The asked key, essentia KeyExtractor on 1-minute excerpts: 8 seeds x 24 keys, 2 minutes
# each (two excerpts per render), 384 excerpts.
SEEDS=101,202,303,404,505,606,707,808 SECONDS_PER_KEY=120 AMBIENTD=$A \
  $M keysweep "$OUT/keys" | tee "$OUT/keys.jsonl" | grep -E "\"ok\": false|summary"
