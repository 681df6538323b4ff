"""The import contract, read from the source with `ast` (nothing is imported): app.py, components/ and model/ import
one another without a cycle; model/ never imports Streamlit, directly or through another module; nor do the pure
modules of components/ (the view context, text helpers, URL parameters, axes, glossary, i18n, the table of views
and every figure builder), so that they stay testable and reusable without a page.

What counts: every `import` and `from … import` anywhere in a module, in functions too (a lazy import still runs
when it is called), except under `if TYPE_CHECKING:` (never run). A cycle is one of named imports; reaching
Streamlit also goes through the packages a module sits in, since importing `model.readers.gguf` first runs
`model/__init__.py` and `model/readers/__init__.py`. app.py's `importlib.import_module` dispatch to the views is
not followed (it names no module in the source)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "model")
PURE = (
    "components.context",
    "components.text",
    "components.params",
    "components.axis",
    "components.glossary",
    "components.i18n",
    "components.views",  # the table of views: components/views/__init__.py
    "components.figures",  # and every module in it, below
)


@dataclass(frozen=True)
class Import:
    target: str  # a module of the project, or an outside package's top-level name
    line: int


@dataclass
class Graph:
    files: dict[str, Path]  # module name → its file
    edges: dict[str, list[Import]]  # module → the project's modules it names
    outside: dict[str, list[Import]]  # module → the outside packages it names

    def packages_of(self, module: str) -> list[str]:
        """The packages Python runs before `module` itself: `a` and `a.b` for `a.b.c`."""
        parts = module.split(".")
        return [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in self.files]


def module_files(root: Path, packages: Iterable[str], scripts: Iterable[str]) -> dict[str, Path]:
    files = {Path(s).stem: root / s for s in scripts}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            hidden |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return hidden


def imported_names(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(full name, line) of everything `module` imports: `from a.b import c` names a.b, and a.b.c if a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    hidden = type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..a import b
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names.append((source, node.lineno))
            names += [
                (f"{source}.{alias.name}", node.lineno) for alias in node.names if f"{source}.{alias.name}" in known
            ]
    return names


def build_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES, scripts: Iterable[str] = ("app.py",)) -> Graph:
    files = module_files(root, packages, scripts)
    known = set(files)
    edges: dict[str, list[Import]] = {m: [] for m in files}
    outside: dict[str, list[Import]] = {m: [] for m in files}
    for module, path in files.items():
        for name, line in imported_names(module, path, known):
            if name in known:
                if name != module:
                    edges[module].append(Import(name, line))
            elif name.split(".")[0] in packages or name.split(".")[0] in known:
                # a name inside a project module (`from model.trace import AttentionTrace`): the module is the edge
                owner = max((m for m in known if name.startswith(m + ".")), key=len, default=None)
                if owner and owner != module:
                    edges[module].append(Import(owner, line))
            else:
                outside[module].append(Import(name.split(".")[0], line))
    return Graph(files, edges, outside)


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for edge in graph.edges[module]:
            if state.get(edge.target) == 1:
                return path[path.index(edge.target) :] + [edge.target]
            if edge.target not in state and (cycle := visit(edge.target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph.files):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def route_to(graph: Graph, start: str, package: str) -> list[str] | None:
    """The shortest chain of imports by which importing `start` imports `package`, as readable steps, or None."""
    came_from: dict[str, tuple[str, str] | None] = {start: None}
    queue = [start]
    while queue:
        module = queue.pop(0)
        if hit := next((i for i in graph.outside[module] if i.target == package), None):
            steps = [f"{module}:{hit.line} imports {package}"]
            while (previous := came_from[module]) is not None:
                module, how = previous
                steps.append(how)
            return steps[::-1]
        nexts = [(p, f"{module} sits in {p}") for p in graph.packages_of(module)]
        nexts += [(e.target, f"{module}:{e.line} imports {e.target}") for e in graph.edges[module]]
        for target, how in nexts:
            if target not in came_from:
                came_from[target] = (module, how)
                queue.append(target)
    return None


def pure_modules(graph: Graph) -> list[str]:
    return sorted(m for m in graph.files if m in PURE or m.startswith("components.figures."))


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


def test_the_graph_is_read_from_the_source(graph):
    """Not vacuous: the modules and the imports that hold the app together are found."""
    assert {"app", "components.session", "components.figures.common", "model.registry", "model.trace"} <= set(
        graph.files
    )
    assert len(graph.files) > 60
    assert "components.session" in {e.target for e in graph.edges["app"]}
    assert any(e.target.startswith("model.families.") for e in graph.edges["model.registry"])
    assert "streamlit" in {i.target for i in graph.outside["app"]}
    assert route_to(graph, "app", "streamlit")[0].startswith("app:")  # app.py is the Streamlit layer
    assert set(pure_modules(graph)) >= {"components.params", "components.views", "components.figures.common"}


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


@pytest.mark.parametrize("module", sorted(m for m in build_graph().files if m.split(".")[0] == "model"))
def test_model_never_imports_streamlit(graph, module):
    route = route_to(graph, module, "streamlit")
    assert route is None, f"{module} imports Streamlit:\n  " + "\n  ".join(route)


@pytest.mark.parametrize("module", pure_modules(build_graph()))
def test_pure_modules_import_no_streamlit(graph, module):
    route = route_to(graph, module, "streamlit")
    assert route is None, f"{module} is pure but imports Streamlit:\n  " + "\n  ".join(route)


def test_the_checks_find_a_cycle_and_streamlit_through_another_module(tmp_path):
    """The checks themselves, on a small tree: a cycle through a relative import, Streamlit two imports away,
    Streamlit through a package's __init__, a lazy import, and an import only for type checkers (ignored)."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def later():\n    from . import c\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/ui/__init__.py": "import streamlit as st\n",
        "pkg/ui/widgets.py": "",
        "pkg/pure.py": "from pkg.helpers import helper\n",
        "pkg/helpers.py": "from pkg.ui.widgets import *\n",
        "pkg/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streamlit\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    small = build_graph(tmp_path, ["pkg"], [])
    assert find_cycle(small) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert route_to(small, "pkg.pure", "streamlit") == [
        "pkg.pure:1 imports pkg.helpers",
        "pkg.helpers:1 imports pkg.ui.widgets",
        "pkg.ui.widgets sits in pkg.ui",
        "pkg.ui:1 imports streamlit",
    ]
    assert route_to(small, "pkg.typed", "streamlit") is None
    (tmp_path / "pkg/c.py").write_text("")
    assert find_cycle(build_graph(tmp_path, ["pkg"], [])) is None
