#!/usr/bin/env python3
"""Fails when a module of the daemon imports upward.

Reads every `crate::…` and `super::…` path in src/ (use lines and inline paths alike,
`#[cfg(test)]` modules excluded: a test may reach for any fixture), resolves it to the file
that defines it, and checks two things:

1. top-level modules import only from the layers below their own (LAYERS, bottom first;
   modules in the same layer may not import each other);
2. no import cycle between files, inside a module or across modules.

Prints the module graph with --graph.
"""
import re
import sys
from pathlib import Path

# Bottom first. A module may use only modules in earlier rows.
LAYERS = [
    ["audio", "shutdown", "clock", "manual"],
    ["music"],
    ["synth"],
    ["engine"],
    ["render", "station"],
    ["stream"],
    ["config"],
    ["daemon"],
]

# Outputs are told everything by the station: they may not reach past it to the music, the
# engine, the config or the parameters file.
ONLY = {"stream": {"audio", "clock", "shutdown", "station"}}
FORBIDDEN_FILES = {"stream": [("station", "store")]}

ROOT = Path(__file__).resolve().parent.parent / "src"
PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)


def module_path(file: Path) -> list[str]:
    rel = file.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod … { … }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def resolve(files: dict, parts: list[str]):
    """The longest prefix of `parts` that names a file's module."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in files:
            return tuple(parts[:n])
    return None


def main() -> int:
    files = {}
    for f in ROOT.rglob("*.rs"):
        if "bin" in f.relative_to(ROOT).parts or f.name == "main.rs":
            continue
        files[tuple(module_path(f))] = f
    edges = {m: set() for m in files}
    for mod, f in files.items():
        text = strip_tests(f.read_text())
        is_dir_mod = f.name in ("mod.rs", "lib.rs")
        paths = []
        for m in USE_GROUP.finditer(text):
            for item in re.split(r",", m.group(3)):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    paths.append((m.group(1), m.group(2) + "::" + item.split("::")[0]))
        paths += [(m.group(1), m.group(2)) for m in PATH.finditer(text)]
        for base, rest in paths:
            names = [p for p in rest.split("::") if p]
            if base == "crate":
                target = names
            else:
                here = list(mod) if is_dir_mod else list(mod[:-1])
                while names and names[0] == "super":
                    here, names = here[:-1], names[1:]
                target = here + names
            t = resolve(files, target)
            if t is not None and t != mod and t != ():
                # A parent module's re-exports are its own; a child's path through it is fine.
                edges[mod].add(t)
    layer_of = {name: i for i, row in enumerate(LAYERS) for name in row}
    errors = []
    top_edges = {}
    for src, targets in edges.items():
        if not src:
            continue
        for dst in targets:
            if not dst or src[0] == dst[0]:
                continue
            top_edges.setdefault(src[0], set()).add(dst[0])
    for src, dsts in sorted(top_edges.items()):
        for dst in sorted(dsts):
            a, b = layer_of.get(src), layer_of.get(dst)
            if a is None or b is None:
                errors.append(f"{src} -> {dst}: module not in LAYERS (.ci/layers.py)")
            elif b >= a:
                errors.append(f"{src} -> {dst}: imports {'upward' if b > a else 'sideways'}")
    for src, allowed in ONLY.items():
        for dst in sorted(top_edges.get(src, set()) - allowed):
            errors.append(f"{src} -> {dst}: {src} may import only {', '.join(sorted(allowed))}")
    for src, banned in FORBIDDEN_FILES.items():
        for mod, targets in edges.items():
            if mod and mod[0] == src:
                for t in targets & set(banned):
                    errors.append(f"{'/'.join(mod)} -> {'/'.join(t)}: not for {src}")
    # File cycles: Tarjan's strongly connected components. A directory module (mod.rs) and the
    # files under it are one unit for this check only when a child uses its parent's items.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    for v in edges:
        if v not in index:
            visit(v)
    for comp in sccs:
        names = sorted("/".join(c) or "lib" for c in comp)
        errors.append("import cycle between files: " + ", ".join(names))
    if "--graph" in sys.argv:
        for src, dsts in sorted(top_edges.items()):
            print(f"{src} -> {', '.join(sorted(dsts))}")
    for e in errors:
        print("layers:", e)
    if errors:
        print(f"layers: {len(errors)} problem(s); the allowed order is in .ci/layers.py")
        return 1
    print(f"layers: {len(files)} files, every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
