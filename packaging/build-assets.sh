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
"$bin/ambientd" completions bash >"$out/completions/ambientd.bash"
"$bin/ambientd" completions zsh >"$out/completions/_ambientd"
"$bin/ambientd" completions fish >"$out/completions/ambientd.fish"
"$bin/ambientd" manpage --out-dir "$out/man"
ls "$out/completions" "$out/man"
