#!/usr/bin/env python3
"""Writes the Debian copyright file (DEP-5) for the package: ambientd's own licence, then one
Files: stanza per Rust crate linked into the binaries (cargo tree, normal dependencies, as
locked), then the text of every licence named. Where a crate offers a choice (MIT OR
Apache-2.0) the first of PREFERENCE it offers is used. Fails, naming the crate, when a licence
has no text in packaging/licenses/ and no file in /usr/share/common-licenses.

Usage: packaging/copyright.py OUT
"""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFERENCE = ["MIT", "Apache-2.0", "ISC", "BSD-2-Clause", "BSD-3-Clause", "Zlib", "Unlicense"]
# Licences whose text Debian ships in /usr/share/common-licenses.
COMMON = {"Apache-2.0": "Apache-2.0", "MPL-2.0": "MPL-2.0"}
# Crates that bundle C code by other authors, whose copyright the stanza must name.
BUNDLED = {
    "opusic-sys": "2001-2023 Xiph.Org, Skype Limited, Octasic, Jean-Marc Valin, Timothy B.\n"
    " Terriberry, CSIRO, Gregory Maxwell, Mark Borgerding, Erik de Castro Lopo, Mozilla, Amazon\n"
    " (libopus, built from source and linked statically)",
}


def run(*args):
    return subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def linked_packages():
    """(name, version) of every crate in the binaries, from `cargo tree`."""
    tree = run("cargo", "tree", "--locked", "-e", "normal", "--workspace",
               "--target", "x86_64-unknown-linux-gnu", "--prefix", "none", "--format", "{p}")
    found = set()
    for line in tree.splitlines():
        m = re.match(r"(\S+) v(\S+)( \((/[^)]*)\))?", line.strip())
        if m and not m.group(4):  # a path dependency is one of ours
            found.add((m.group(1), m.group(2)))
    return sorted(found)


def choose(expression, crate):
    """The licence to name for an SPDX expression: alternatives reduced to one."""
    expression = expression.replace("/", " OR ")
    parts = [p.strip(" ()") for p in re.split(r"\bAND\b", expression)]
    chosen = []
    for part in parts:
        options = [o.strip(" ()") for o in re.split(r"\bOR\b", part)]
        pick = next((p for p in PREFERENCE if p in options), options[0])
        if not pick:
            sys.exit(f"copyright.py: {crate} has no licence in its metadata")
        chosen.append(pick)
    return " and ".join(dict.fromkeys(chosen))


def licence_text(name):
    local = ROOT / "packaging" / "licenses" / name
    if local.is_file():
        body = local.read_text().strip("\n")
    elif name in COMMON:
        path = f"/usr/share/common-licenses/{COMMON[name]}"
        body = f"On Debian systems, the complete text of this licence is in {path}."
    else:
        sys.exit(f"copyright.py: no text for licence {name}: add packaging/licenses/{name}")
    return "\n".join(" " + line if line.strip() else " ." for line in body.splitlines())


def main():
    out = Path(sys.argv[1])
    metadata = json.loads(run("cargo", "metadata", "--locked", "--format-version", "1"))
    by_id = {(p["name"], p["version"]): p for p in metadata["packages"]}
    root = by_id.get(("ambientd", next(p["version"] for p in metadata["packages"]
                                       if p["name"] == "ambientd")))
    contact = root["metadata"]["deb"]["maintainer"]
    stanzas = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: ambientd\n"
        f"Upstream-Contact: {contact}\n"
        f"Source: {root.get('repository') or 'https://example.invalid/ambientd'}\n"
        "Comment: The binaries link the Rust crates below statically; each stanza names one\n"
        " crate as built (cargo-registry/NAME-VERSION) and, where it offers a choice, the\n"
        " licence used.",
        "Files: *\nCopyright: 2026 ambientd developers\nLicense: MIT or Apache-2.0",
        # Embedded in the binary and served to browsers without WebCodecs (web/README.md).
        "Files: web/opus-decoder.min.js\n"
        "Copyright: 2021-2026 Ethan Halsall (npm opus-decoder 0.7.12, wasm-audio-decoders)\n"
        " Xiph.Org Foundation and contributors (libopus, compiled to WebAssembly)\n"
        "License: MIT and BSD-3-Clause",
    ]
    used = {"MIT", "Apache-2.0", "BSD-3-Clause"}
    for name, version in linked_packages():
        package = by_id[(name, version)]
        licence = choose(package.get("license") or "", name)
        used.update(licence.split(" and "))
        authors = ", ".join(package.get("authors") or []) or f"the {name} authors"
        if name in BUNDLED:
            authors = f"{authors}\n {BUNDLED[name]}"
        stanzas.append(f"Files: cargo-registry/{name}-{version}/*\n"
                       f"Copyright: {authors}\nLicense: {licence}")
    for licence in sorted(used):
        stanzas.append(f"License: {licence}\n{licence_text(licence)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(stanzas) + "\n")
    print(f"{out}: {len(stanzas) - 2 - len(used)} crates, licences {', '.join(sorted(used))}")


main()
