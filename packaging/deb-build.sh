#!/bin/sh
# Builds the Debian package from binaries already built in one cargo profile, then checks it
# with lintian: any error or warning fails (informational tags are printed, not fatal).
# Needs cargo-deb and lintian (.ci/run installs both).
# Usage: packaging/deb-build.sh [PROFILE [OUT]]   (PROFILE: release (default) or dev)
set -eu
cd "$(dirname "$0")/.."
profile=${1:-release}
out=${2:-target/debian/ambientd.deb}
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
PROFILE_DIR=$dir sh packaging/build-assets.sh >/dev/null
mkdir -p "$(dirname "$out")"
cargo deb --no-build --profile "$profile" -o "$out" >/dev/null
echo "built $out"
tags=$(lintian --pedantic -I "$out" 2>&1 | grep -v 'running with root privileges' || true)
[ -n "$tags" ] && echo "$tags"
if echo "$tags" | grep -q '^[EW]: '; then
    echo "deb-build: lintian reports errors or warnings (above)" >&2
    exit 1
fi
echo "lintian: no error, no warning"
