#!/usr/bin/env python3
"""The layout rules of docs/design.md ("Where things live"), checked from the source text:

1. no import circle between the files of a crate (a `use` of, or a path through, another module
   is an arrow from this file to the file that module lives in; a circle is a set of files each
   reachable from every other);
2. no production source file over 500 lines (unit tests in a sibling `tests.rs` do not count; a
   file's inline `#[cfg(test)] mod tests` does, so a module that outgrows the limit moves them);
3. one module-file style: `foo/mod.rs`, never `foo.rs` beside a folder `foo/`.

    scripts/check-layout.py [crate-src ...]     (default: every crate's src of the workspace)
    scripts/check-layout.py --self-test         (the checks against small made-up crates)

Prints each breach and exits 1 if there is any. It reads text, not the compiler's view: a path
written in a macro or a string is not seen, which errs towards passing.
"""

import re
import sys
from pathlib import Path

MAX_LINES = 500
DEFAULT_CRATES = ["crds/src", "support/src", "operator/src", "api/src"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_files(src: Path) -> dict:
    """Module path (a tuple of names, () for the crate root) -> its file."""
    modules = {}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src)
        if "bin" in rel.parts[:1] or rel.name in ("main.rs",):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts == ["lib"]:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = path
    return modules


def is_test_file(path: Path) -> bool:
    return path.name == "tests.rs" or "tests" in path.parts[:-1]


def production_text(text: str) -> str:
    """The file without its inline test module (at the bottom, from `#[cfg(test)] mod tests {`)."""
    match = re.search(r"^#\[cfg\(test\)\]\s*(?:pub(?:\(\w+\))? )?mod tests \{", text, re.MULTILINE)
    return text[: match.start()] if match else text


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", "", text)


def expand_use_tree(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> [['a','b'], ['a','c','d'], ['a','c','e']] (aliases dropped)."""
    tree = re.sub(r"\s+", "", tree)

    def parse(s, i):
        # Returns (list of paths, next index); s[i:] starts a tree.
        prefix = []
        name = ""
        while i < len(s):
            ch = s[i]
            if s.startswith("::", i):
                prefix.append(name)
                name = ""
                i += 2
            elif ch == "{":
                paths, i = parse_group(s, i + 1)
                return [prefix + p for p in paths], i
            elif ch in ",}":
                break
            else:
                name += ch
                i += 1
        name = name.split("as")[0] if re.fullmatch(r".+as" + IDENT, name or "") else name
        return [prefix + ([name] if name else [])], i

    def parse_group(s, i):
        paths = []
        while i < len(s) and s[i] != "}":
            sub, i = parse(s, i)
            paths.extend(sub)
            if i < len(s) and s[i] == ",":
                i += 1
        return paths, i + 1

    paths, _ = parse(tree, 0)
    return paths


def resolve(path: list, here: tuple, modules: dict):
    """The module a path names, as far as it names modules; None if it leaves the crate."""
    if not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] == "self":
        base, rest = here, path[1:]
    elif path[0] == "super":
        base, rest = here, path
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif here + (path[0],) in modules:
        base, rest = here, path  # a child module, named as the parent declared it
    else:
        return None  # another crate, or a name in scope
    module = base
    for name in rest:
        if module + (name,) in modules:
            module = module + (name,)
        else:
            break
    return module


def edges_of(path: Path, here: tuple, modules: dict) -> set:
    text = strip_comments(production_text(path.read_text()))
    targets = set()
    for tree in re.findall(r"\buse\s+([^;]+);", text):
        for used in expand_use_tree(tree):
            target = resolve(used, here, modules)
            if target is not None:
                targets.add(target)
    children = [m[-1] for m in modules if len(m) == len(here) + 1 and m[:-1] == here]
    roots = "|".join(["crate", "super", "self"] + children)
    for written in re.findall(r"(?<![:\w])((?:" + roots + r")(?:::" + IDENT + r")+)", text):
        target = resolve(written.split("::"), here, modules)
        if target is not None:
            targets.add(target)
    targets.discard(here)
    return {t for t in targets if t in modules}


def circles(graph: dict) -> list:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def check_crate(src: Path) -> list:
    problems = []
    modules = module_files(src)
    graph = {}
    for module, path in modules.items():
        if is_test_file(path):
            continue
        graph[module] = {t for t in edges_of(path, module, modules) if not is_test_file(modules[t])}
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines (at most {MAX_LINES})")
    for component in circles(graph):
        files = [str(modules[m]) for m in component]
        arrows = [
            f"  {modules[a]} -> {modules[b]}"
            for a in component
            for b in sorted(graph[a])
            if b in component
        ]
        problems.append("import circle: " + ", ".join(files) + "\n" + "\n".join(arrows))
    for path in src.rglob("*.rs"):
        if path.name != "mod.rs" and path.with_suffix("").is_dir():
            problems.append(f"{path}: beside the folder {path.with_suffix('')}/ (use {path.with_suffix('')}/mod.rs)")
    return problems


def self_test() -> int:
    """Each rule against a made-up crate that breaks it, and one that keeps them all."""
    import tempfile

    cases = {
        "kept": {
            "lib.rs": "pub mod a;\npub mod leaf;\n",
            "a/mod.rs": "pub mod b;\nuse crate::leaf::X;\n",
            "a/b.rs": "use super::super::leaf::X;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            "leaf.rs": "pub struct X;\n",
        },
        "circle through a parent": {
            "lib.rs": "pub mod a;\n",
            "a/mod.rs": "mod b;\nuse b::Y;\npub struct X;\n",
            "a/b.rs": "use super::X;\npub struct Y;\n",
        },
        "circle of three, in a use tree and a written path": {
            "lib.rs": "pub mod a;\npub mod b;\npub mod c;\n",
            "a.rs": "use crate::{b::{Y}, leaf};\n",
            "b.rs": "fn f() { crate::c::z(); }\n",
            "c.rs": "use crate::a as _;\n",
        },
        "too long": {"lib.rs": "//\n" * (MAX_LINES + 1)},
        "foo.rs beside foo/": {"lib.rs": "pub mod a;\n", "a.rs": "pub mod b;\n", "a/b.rs": ""},
    }
    expected = {
        "kept": [],
        "circle through a parent": ["import circle"],
        "circle of three, in a use tree and a written path": ["import circle"],
        "too long": ["lines (at most"],
        "foo.rs beside foo/": ["beside the folder"],
    }
    failures = 0
    for name, files in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            for rel, text in files.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_text(text)
            found = check_crate(src)
        want = expected[name]
        ok = len(found) == len(want) and all(w in f for w, f in zip(want, found))
        if not ok:
            failures += 1
            print(f"self-test {name!r}: expected {want}, found {found}")
    print(f"check-layout self-test: {len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = Path(__file__).resolve().parent.parent
    crates = [Path(a) for a in sys.argv[1:]] or [root / c for c in DEFAULT_CRATES]
    problems = [p for src in crates for p in check_crate(src)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layout problem(s); the rules: docs/design.md, 'Where things live'")
        return 1
    print(f"layout: no import circle, no file over {MAX_LINES} lines, one module-file style")
    return 0


if __name__ == "__main__":
    sys.exit(main())
