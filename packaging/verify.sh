#!/bin/sh
# Checks the packaging offline: maintainer-script syntax, `systemd-analyze verify` on the
# units (must print nothing) and the `systemd-analyze security` exposure score. Runs in a throwaway root so that it needs
# neither root nor an installed ambientd: the root gets the host's stock units, a stand-in
# /usr/bin/ambientd and /bin/kill.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for script in "$here"/debian/*; do
    case "$script" in */changelog) continue ;; esac
    sh -n "$script"
    # The scripts do the systemd steps themselves; cargo-deb generates none (no systemd-units
    # in Cargo.toml), so a #DEBHELPER# marker would only invite them back.
    ! grep -q '#DEBHELPER#' "$script" || { echo "$script: no #DEBHELPER# marker expected" >&2; exit 1; }
done
echo "maintainer scripts: clean"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/true "$root/usr/bin/ambientd"
cp /bin/true "$root/usr/bin/ambientctl"
cp /bin/kill "$root/bin/kill"
cp /bin/sh "$root/bin/sh"
cp "$here"/systemd/*.service "$here"/systemd/*.socket "$root/etc/systemd/system/"
# The user unit, checked with the same rules under another name (verify knows no --user root).
cp "$here"/systemd/user/ambientd.service "$root/etc/systemd/system/ambientd-user.service"
cd "$root/etc/systemd/system"
errors=$(systemd-analyze verify --man=no --root="$root" ambientd.service ambientd-http.socket ambientd-user.service 2>&1) || true
if [ -n "$errors" ]; then
    printf 'systemd-analyze verify:\n%s\n' "$errors" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=yes --root="$root" ambientd.service | tail -n 1
