#!/usr/bin/env bash
# against-daemon.sh — run the web client's end-to-end tests against built ambientd/ambientctl
# binaries instead of the mock. Each test server gets its own port, config and control socket.
#
#   AMBIENTD_BIN=target/release/ambientd AMBIENTCTL_BIN=target/release/ambientctl \
#     web/test/against-daemon.sh [node --test options]
# (those two paths are the defaults, relative to the repository root)
#
# Relies on: `ambientd --config FILE --listen ADDR --control-socket PATH`, `[server] web_control`
# in the config, /healthz, and `ambientctl --socket PATH get bpm` printing the value last.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
AMBIENTD_BIN="$(realpath "${AMBIENTD_BIN:-$root/target/release/ambientd}")"
AMBIENTCTL_BIN="$(realpath "${AMBIENTCTL_BIN:-$root/target/release/ambientctl}")"
export AMBIENTD_BIN AMBIENTCTL_BIN
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export AMBIENTD_WORK="$work"

# Runs under sh -c with AMBIENTD_PORT, AMBIENTD_LISTEN and AMBIENTD_WEB_CONTROL set.
export AMBIENTD_CMD='cfg="$AMBIENTD_WORK/ambientd-$AMBIENTD_PORT.toml"
case "$AMBIENTD_WEB_CONTROL" in true) policy=loopback ;; *) policy=off ;; esac
printf "[server]\nweb_control = \"%s\"\n" "$policy" > "$cfg"
rm -f "$AMBIENTD_WORK/ctl-$AMBIENTD_PORT.sock"
exec "$AMBIENTD_BIN" --config "$cfg" --listen "$AMBIENTD_LISTEN" --control-socket "$AMBIENTD_WORK/ctl-$AMBIENTD_PORT.sock"'
export AMBIENTD_GET='"$AMBIENTCTL_BIN" --socket "$AMBIENTD_WORK/ctl-$AMBIENTD_PORT.sock" get'

exec "$root/web/test/run.sh" "$@"
