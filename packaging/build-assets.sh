#!/bin/sh
# Generates the files the Debian package installs besides the binaries: shell completions
# and man pages, from the clap definitions of the freshly built release binaries, and the
# copyright file (every statically linked crate, from cargo tree).
# Usage: cargo build --release --workspace && packaging/build-assets.sh && cargo deb --no-build
set -eu
cd "$(dirname "$0")/.."
# The binaries of one profile: target/release by default, target/debug with PROFILE_DIR=debug.
bin=target/${PROFILE_DIR:-release}
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
python3 packaging/copyright.py "$out/copyright"
ls "$out/completions" "$out/man"
