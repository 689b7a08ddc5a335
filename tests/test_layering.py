"""Package structure: no import cycle between subpackages, and a core free of typer/rich.

Imports are read from the source (``ast``), including imports inside functions: a deferred
import still makes one unit depend on another.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rnatracker_cli"
NAME = "rnatracker_cli"


def _unit(module: str) -> str:
    """The layer unit of a module: its subpackage (``training``), or the top-level module
    itself (``inference``, ``api``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else NAME


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    """Whether a dotted name inside the package is a module or subpackage (not a function)."""
    if not name.startswith(NAME + "."):
        return False
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if _is_module(f"{target}.{alias.name}"))
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """unit → units it imports; module → every name it imports."""
    edges: dict[str, set[str]] = {}
    imports: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        names = _imports(path)
        imports[module] = names
        if module == NAME:
            continue  # the package's __init__ re-exports the API lazily
        unit = _unit(module)
        for name in names:
            if name.startswith(NAME + ".") and len(name.split(".")) > 1:
                target = _unit(".".join(name.split(".")[:2]))
                if target != unit and target != NAME:
                    edges.setdefault(unit, set()).add(target)
    return edges, imports


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_subpackages():
    edges, _ = _graph()
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_core_never_imports_typer_or_rich():
    _, imports = _graph()
    for module, names in imports.items():
        if _unit(module) == "cli" or module in (f"{NAME}.__main__",):
            continue
        bad = sorted(n for n in names if n.split(".")[0] in ("typer", "rich"))
        assert not bad, f"{module} imports {', '.join(bad)} (only rnatracker_cli.cli may)"


def test_the_layers_read_downwards():
    """A few edges that would invert the layering (core importing the CLI or the API)."""
    edges, _ = _graph()
    for unit, targets in edges.items():
        if unit not in ("cli", "__main__"):
            assert "cli" not in targets, f"{unit} imports the CLI"
        if unit not in ("cli", "api", "workflows"):
            assert "api" not in targets and "workflows" not in targets, f"{unit} imports the API layer"
