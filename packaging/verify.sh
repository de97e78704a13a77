#!/bin/sh
# Checks the packaging offline: maintainer-script syntax, `systemd-analyze verify` on the
# units (must print nothing) and the `systemd-analyze security` exposure score. Runs in a throwaway root so that it needs
# neither root nor an installed ambientd: the root gets the host's stock units, a stand-in
# /usr/bin/ambientd and /bin/kill.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for script in "$here"/debian/*; do
    sh -n "$script"
    # cargo-deb replaces the marker everywhere, comments included: exactly one per script.
    [ "$(grep -c '#DEBHELPER#' "$script")" = 1 ] || { echo "$script: one #DEBHELPER# line expected" >&2; exit 1; }
done
echo "maintainer scripts: clean"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/true "$root/usr/bin/ambientd"
cp /bin/kill "$root/bin/kill"
cp "$here"/systemd/* "$root/etc/systemd/system/"
cd "$root/etc/systemd/system"
errors=$(systemd-analyze verify --man=no --root="$root" ambientd.service ambientd-http.socket 2>&1) || true
if [ -n "$errors" ]; then
    printf 'systemd-analyze verify:\n%s\n' "$errors" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=yes --root="$root" ambientd.service | tail -n 1
