"""Architecture rules of the mira package, checked on the source (nothing is imported).

* no import cycle among mira modules (module-level, function-level and relative imports, and
  ``importlib.import_module("mira...")`` calls with a literal name);
* no module over 500 lines and no function over 80 lines (docstring included);
* the library packages do not reach up into the study layer (:mod:`mira.study`) or into
  :mod:`mira.evaluate`.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "mira"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
LIBRARY = ("synthesis", "augment", "degrade", "restore", "metrics", "ingest", "nn")
FORBIDDEN_FOR_LIBRARY = ("mira.study", "mira.evaluate")


def module_name(path: Path) -> str:
    """Dotted name of a source file below :data:`PACKAGE` (``__init__.py`` names its package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is, or lies in (``None`` outside the package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _relative_base(module: str, path: Path, level: int) -> str:
    """The package that a ``from <level dots> import`` statement in ``module`` starts from."""
    parts = module.split(".")
    if not _is_package(path):
        parts = parts[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def imported_names(module: str, path: Path) -> list[str]:
    """Dotted names imported anywhere in a module (functions and ``if`` blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(p for p in (_relative_base(module, path, node.level), node.module) if p)
            names += [f"{base}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.append(node.args[0].value)
    return names


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """Edges ``module -> modules it imports`` inside the package (self-imports dropped)."""
    modules = source_files()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {_resolve(name, modules) for name in imported_names(module, path)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the package is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(comp, graph) for comp in components]


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A concrete cycle through the first module of a strongly connected component (breadth first)."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return component


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``name (lines)`` of every function or method longer than ``limit`` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{node.name} ({node.end_lineno - node.lineno + 1})" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_cycle_finder_reports_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve():
    assert _relative_base("mira.augment.base", PACKAGE / "augment" / "base.py", 1) == "mira.augment"
    assert _relative_base("mira.augment", PACKAGE / "augment" / "__init__.py", 1) == "mira.augment"
    assert _relative_base("mira.augment.spatial.chain", PACKAGE / "augment" / "spatial" / "chain.py", 2) == \
        "mira.augment"


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in mira:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_modules_are_short():
    too_long = {module: n for module, path in source_files().items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_functions_are_short():
    too_long = {module: found for module, path in source_files().items() if (found := long_functions(path))}
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (docstring included): {too_long}"


@pytest.mark.parametrize("package", LIBRARY)
def test_library_does_not_import_the_study_layer(package):
    graph = import_graph()
    prefix = f"mira.{package}"
    bad = sorted(f"{module} -> {target}" for module, targets in graph.items()
                 if module == prefix or module.startswith(prefix + ".")
                 for target in targets
                 if any(target == f or target.startswith(f + ".") for f in FORBIDDEN_FOR_LIBRARY))
    assert not bad, f"mira.{package} is library code and must not import the study layer or mira.evaluate:\n" + \
        "\n".join(bad)
