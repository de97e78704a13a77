#!/bin/bash
# Side by side: N /stream.opus listeners on ambientd vs N listeners of icecast2 relaying the
# same stream (fed by ffmpeg from ambientd), the same listener program for both
# (web/test/ogg-listeners.mjs), rounds alternating; then, with CEILING=1, ambientd alone
# with N listeners spread over P load-tool processes. Figures in BENCHMARKS.md.
#
#   benches/opus_vs_icecast.sh                 # N=1000, 2 rounds
#   N=8000 P=2 CEILING=1 benches/opus_vs_icecast.sh
#   N=15000 P=4 CEILING=1 BIN=target/release/ambientd DAEMON_CPUS=0 LOAD_CPUS=1 benches/opus_vs_icecast.sh
#
# Needs: a built ambientd (BIN, default target/debug/ambientd: cargo build), icecast2, ffmpeg,
# node, bc; run as root (icecast2 drops to its own user via <changeowner>) with ulimit -n ≥
# N + 1000. DAEMON_CPUS / LOAD_CPUS (taskset lists) keep the servers (ambientd, and icecast2
# in the side-by-side) and the load tool on cores of their own, so the tool's CPU does not
# count against a server.
set -euo pipefail
N=${N:-1000}; P=${P:-1}; SECS=${SECS:-15}; ROUNDS=${ROUNDS:-2}; CEILING=${CEILING:-0}
repo=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-target/debug/ambientd}
case "$BIN" in /*) ;; *) BIN="$repo/$BIN" ;; esac
all_cpus="0-$(($(nproc) - 1))"
DAEMON_CPUS=${DAEMON_CPUS:-$all_cpus}; LOAD_CPUS=${LOAD_CPUS:-$all_cpus}
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cat > "$work/a.toml" <<TOML
[server]
max_listeners = $((N + 100))
[limits]
connections_per_address = $((N + 100))
TOML
sed -e 's|<port>8000</port>|<port>18700</port>|' -e "s|<logdir>/var/log/icecast2</logdir>|<logdir>$work/ice</logdir>|" \
    -e 's|CHANGE-ME-source|bench-source|' "$repo/packaging/icecast/icecast.xml" > "$work/icecast.xml"
mkdir -p "$work/ice" "$work/state" && chown icecast2 "$work/ice"
STATE_DIRECTORY="$work/state" taskset -c "$DAEMON_CPUS" "$BIN" --config "$work/a.toml" \
    --listen 127.0.0.1:18434 --control-socket "$work/c.sock" > "$work/ambientd.log" 2>&1 &
amb=$!
sleep 3
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
listeners() { # URL PID COUNT
    (cd "$repo/web/test" && taskset -c "$LOAD_CPUS" node ogg-listeners.mjs --url "$1" --pid "$2" --listeners "$3" \
        --seconds "$SECS" --warmup $(($3 * 2 / 1000 + 3)) --ramp-ms 2) 2>&1 | tail -1
}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $BIN on CPUs $DAEMON_CPUS, load tool on $LOAD_CPUS"
if [ "$CEILING" = 1 ]; then
    echo "load: $(cat /proc/loadavg)"
    metrics() { curl -s 127.0.0.1:18434/metrics | grep -E '^ambientd_(listeners_dropped_total|underruns_total|delivery_seconds_(count|bucket\{le="(0.01|0.02|0.05|0.1|0.25|0.5|1)"\}))'; }
    for _ in $(seq "$P"); do listeners http://127.0.0.1:18434/stream.opus "$amb" $((N / P)) & done
    # The daemon's figures over the load tools' measuring window (after their ramp and
    # warm-up), and over the whole run.
    sleep $((N / P * 2 / 1000 + 3 + 1))
    metrics > "$work/before"
    wait $(jobs -p | grep -v "^$amb$")
    metrics > "$work/after"
    echo "whole run:"; cat "$work/after"
    echo "measuring window only (ramp excluded):"
    awk 'NR == FNR { was[$1] = $2; next } { printf "%s %d\n", $1, $2 - was[$1] }' "$work/before" "$work/after"
    echo "load: $(cat /proc/loadavg)"
    exit 0
fi
taskset -c "$DAEMON_CPUS" icecast2 -c "$work/icecast.xml" > "$work/icecast.log" 2>&1 &
sleep 3
ice=$(pgrep -n icecast2)
ffmpeg -nostdin -loglevel error -i http://127.0.0.1:18434/stream.opus -c copy -f ogg \
    -page_duration 100000 -content_type audio/ogg \
    icecast://source:bench-source@127.0.0.1:18700/ambient.opus > "$work/ffmpeg.log" 2>&1 &
sleep 5
for round in $(seq "$ROUNDS"); do
    echo "load: $(cat /proc/loadavg)"
    a=$(cpu "$amb"); sleep 10; b=$(cpu "$amb")
    echo "round $round: ambientd with only ffmpeg listening: $(echo "scale=2; ($b - $a) / 10" | bc) % of a core"
    listeners http://127.0.0.1:18434/stream.opus "$amb" "$N"
    listeners http://127.0.0.1:18700/ambient.opus "$ice" "$N"
done
