#!/bin/sh
# Generates the files the Debian package installs besides the binaries: shell completions
# and man pages, from the clap definitions of the freshly built release binaries.
# Usage: cargo build --release --workspace && packaging/build-assets.sh && cargo deb --no-build
set -eu
cd "$(dirname "$0")/.."
bin=target/release
out=target/assets
rm -rf "$out"
mkdir -p "$out/completions" "$out/man"
"$bin/ambientctl" completions bash >"$out/completions/ambientctl.bash"
"$bin/ambientctl" completions zsh >"$out/completions/_ambientctl"
"$bin/ambientctl" completions fish >"$out/completions/ambientctl.fish"
"$bin/ambientctl" manpage --out-dir "$out/man"
# ambientd's own pages, once the daemon offers the same `manpage --out-dir` command.
if "$bin/ambientd" manpage --out-dir "$out/man" 2>/dev/null; then
    :
else
    echo "note: ambientd has no 'manpage' command yet; only ambientctl's pages generated" >&2
fi
ls "$out/completions" "$out/man"
