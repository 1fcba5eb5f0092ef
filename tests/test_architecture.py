"""The code's shape, read from its source: layers imported only downward, no import cycles
(imports inside functions count), small modules and functions, one public error base."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chatbili_site.settings import BASE_DIR

# Bottom to top. accounts (sign-up, sign-in, MFA) and mcp_server (the MCP endpoint) sit between the
# apps and the site that assembles them; a package that does not exist yet is skipped.
LAYERS = [
    package
    for package in ["core", "videos", "chat", "accounts", "mcp_server", "chatbili_site"]
    if Path(BASE_DIR, package).is_dir()
]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 50


def application_modules() -> dict[str, Path]:
    """Every application module by dotted name (tests and migrations are not application code)."""
    modules = {}
    for package in LAYERS:
        for path in sorted(Path(BASE_DIR, package).rglob("*.py")):
            parts = path.relative_to(BASE_DIR).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


MODULES = application_modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def imported_names(name: str, tree: ast.Module) -> set[str]:
    """Every dotted name a module imports, anywhere in it (functions and TYPE_CHECKING included)."""
    package = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def our_module(dotted: str) -> str | None:
    """The application module a dotted name lives in, if it is one of ours."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, tree in TREES.items():
        targets = {our_module(dotted) for dotted in imported_names(name, tree)}
        graph[name] = {target for target in targets if target and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_modules_import_no_cycle():
    assert cycles(import_graph()) == []


def test_packages_import_only_downward():
    layer = {package: rank for rank, package in enumerate(LAYERS)}
    upward = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer[target.split(".")[0]] > layer[source.split(".")[0]]
    ]
    assert upward == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_application_modules_are_short():
    long_modules = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long_modules == {}


def test_functions_are_short():
    long_functions = {
        f"{name}.{node.name}:{node.lineno}": node.end_lineno - node.lineno + 1
        for name, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno >= MAX_FUNCTION_LINES
    }
    assert long_functions == {}


@pytest.mark.parametrize("base", ["Exception", "BaseException"])
def test_one_public_error_base(base):
    """Only core.errors.AppError derives from Exception directly; private control-flow errors
    (names starting with an underscore) may too."""
    direct = sorted(
        f"{name}.{node.name}"
        for name, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(isinstance(b, ast.Name) and b.id == base for b in node.bases)
    )
    assert direct == (["core.errors.AppError"] if base == "Exception" else [])
