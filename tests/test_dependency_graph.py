"""fastnn's pieces depend on each other one way only: no circles among its
Python modules or among its C files, and the layering of the house holds
(the workspace's ``DESIGN.md``: data flows down, each floor knows only the
floors below it -- models, layers, the small flat modules, kernels -- and
the NumPy reference never reaches the C extension it is the oracle for).

Python: every module under ``fastnn/`` is parsed with ``ast`` and each
``import`` statement, anywhere in the file (inside functions too: a lazy
import is still a dependency, only a hidden one), becomes an edge.
``from . import x`` points at the module ``x`` when there is one, else at
the package; ``from .config import f`` points at ``config``.  A submodule's
implicit import of its own package's ``__init__`` is not an edge (every
submodule has it, so every package that re-exports its submodules would be
a circle).

C: a file depends on another when it names a function that the other
defines without ``static`` (a call, or a function pointer).  Definitions and
names are found with regular expressions over the sources, comments and
strings removed: good enough for fastnn's plain C11.
"""
import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "fastnn"
CSRC = ROOT / "csrc"


# ---- circles in a directed graph {node: iterable of nodes} ----------------------------------

def find_cycle(graph):
    """One circle ``[a, b, ..., a]`` of the graph, or None (depth-first
    search: a node met again while it is still open closes a circle)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == "open":
                return stack[stack.index(succ):] + [succ]
            if succ not in state:
                cycle = visit(succ)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def reaches(graph, start):
    """Every node ``start`` leads to, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for succ in graph.get(todo.pop(), ()):
            if succ not in seen:
                seen.add(succ)
                todo.append(succ)
    return seen


def tangles(graph):
    """The groups of nodes that lead to each other (each group holds one or
    more circles), as frozensets."""
    reach = {node: reaches(graph, node) for node in graph}
    return {frozenset({node} | {other for other in reach[node] if node in reach[other]})
            for node in graph if node in reach[node]}


def shortest_path(graph, starts, is_goal):
    """The shortest path ``[start, ..., goal]`` from one of ``starts`` to a
    node for which ``is_goal(node)`` holds, or None (breadth first)."""
    came_from = {start: None for start in starts}
    todo = list(starts)
    while todo:
        node = todo.pop(0)
        if is_goal(node) and came_from[node] is not None:
            path = [node]
            while came_from[path[-1]] is not None:
                path.append(came_from[path[-1]])
            return path[::-1]
        for succ in sorted(graph.get(node, ())):
            if succ not in came_from:
                came_from[succ] = node
                todo.append(succ)
    return None


def describe(path, graph):
    """'a (line 3) -> b (line 7) -> a': each step with where the step is made."""
    return "".join(f"{a} ({graph[a][b]}) -> " for a, b in zip(path, path[1:])) + path[-1]


def test_the_graph_helpers_find_circles_and_paths_and_only_those():
    line, diamond = {"a": ["b"], "b": ["c"], "c": []}, {"a": "bc", "b": "d", "c": "d", "d": ""}
    assert find_cycle(line) is None and tangles(line) == set()
    assert find_cycle(diamond) is None and tangles(diamond) == set()
    circle = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert find_cycle(circle) == ["a", "b", "c", "a"]
    assert tangles(circle) == {frozenset("abc")}
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert shortest_path(diamond, ["a"], lambda node: node == "d") in (list("abd"), list("acd"))
    assert shortest_path(diamond, ["b", "c"], lambda node: node == "a") is None


# ---- Python: the import graph ----------------------------------------------------------------

def module_name(path):
    """``fastnn/models/saving.py`` -> ``fastnn.models.saving``; a package's
    ``__init__.py`` -> the package's name."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_from(node, importer, is_package):
    """The absolute name of the module a ``from ... import`` statement names."""
    if node.level == 0:
        return node.module
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(name, path, modules):
    """{fastnn module that ``name`` imports: "line N" of the first import}."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(node, name, path.name == "__init__.py")
            found = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        else:
            continue
        for target in found:
            # "import fastnn.models.saving" loads that module: the deepest known name
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.setdefault(target, f"line {node.lineno}")
    return targets


@functools.lru_cache(maxsize=None)
def import_graph():
    """{module: {module it imports: where}} over all of fastnn (read once).  The Cython
    bridge (``.pyx``) is a node without edges: it cimports C headers only."""
    modules = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))
               + sorted(PACKAGE_DIR.rglob("*.pyx"))}
    return {name: {} if path.suffix == ".pyx" else imports_of(name, path, modules)
            for name, path in modules.items()}


def test_the_walker_sees_relative_lazy_and_package_imports():
    graph = import_graph()
    assert "fastnn.models.training" in graph["fastnn.models.sequential"]   # from . import training
    assert "fastnn._ckernels" in graph["fastnn.kernels._native"]           # inside a function
    assert "fastnn.layers" in graph["fastnn.io.keras_layers"]              # from .. import layers
    assert "fastnn.models" not in graph["fastnn.models.sequential"]        # no implicit parent


def test_no_python_modules_import_each_other_in_a_circle():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle: {describe(cycle, graph)}"


def inside(name, package):
    return name == package or name.startswith(package + ".")


# DESIGN.md's floors, top to bottom: "Data flows down, one way; each floor knows
# only the floors below it."  (Its "beside" packages -- datasets, utils, plot,
# cluster, semi_supervised -- and the plan and io are not on a floor.)
FLOORS = [("fastnn.models",),
          ("fastnn.layers",),
          ("fastnn.losses", "fastnn.activations", "fastnn.metrics", "fastnn.optimizers",
           "fastnn.initializers", "fastnn.regularizers", "fastnn.callbacks"),
          ("fastnn.kernels",)]
# ... and its "Never: kernels import layers or models; layers import models;
# [...] the NumPy reference imports the C extension."
NEVER = [(lower, upper) for i, floor in enumerate(FLOORS) for lower in floor
         for upper_floor in FLOORS[:i] for upper in upper_floor] \
    + [("fastnn.kernels.reference", "fastnn._ckernels")]


@pytest.mark.parametrize("lower, upper", NEVER, ids=[f"{a} never imports {b}" for a, b in NEVER])
def test_lower_floors_never_import_upper_ones(lower, upper):
    """Not directly and not through other modules."""
    graph = import_graph()
    path = shortest_path(graph, [m for m in graph if inside(m, lower)],
                         lambda module: inside(module, upper))
    assert path is None, f"{lower} must not import {upper}: {describe(path, graph)}"


# ---- C: which file calls which ---------------------------------------------------------------

def c_code(path):
    """The source without comments and string literals (their words are not calls)."""
    text = re.sub(r"/\*.*?\*/", " ", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


# A definition: at the start of a line, a return type (and qualifiers), the
# name, the parameters, then the body's "{".
DEFINITION = re.compile(r"^([A-Za-z_][\w \t*()]*?[\s*])([A-Za-z_]\w*)\s*\([^;{}]*\)\s*\{", re.M)


def call_graph():
    """{C file: {C file whose non-static functions it names: "calls f, g"}}."""
    sources = {p.name: c_code(p) for p in sorted(CSRC.glob("*.[ch]"))}
    # a macro that expands to "static ..." (FASTNN_INLINE) keeps a function file-local too
    local = {"static"} | {m for text in sources.values() for m in re.findall(
        r"^[ \t]*#[ \t]*define[ \t]+(\w+)\b[^\n]*\bstatic\b", text, re.M)}
    defined_in = {}
    for name, text in sources.items():
        for match in DEFINITION.finditer(text):
            if name.endswith(".c") and not set(re.findall(r"\w+", match.group(1))) & local:
                defined_in[match.group(2)] = name
    graph = {name: {} for name in sources if name.endswith(".c")}
    for name in graph:
        for word in sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", sources[name]))):
            owner = defined_in.get(word)
            if owner is not None and owner != name:
                graph[name][owner] = (graph[name].get(owner, "calls") + f" {word}")
    return graph


def test_the_call_graph_sees_calls_between_files_and_not_static_helpers():
    graph = call_graph()
    assert "fastnn_pack_strided" in graph["conv2d.c"]["gemm.c"]
    assert "fastnn_threads_for" in graph["gemm.c"]["runtime.c"]
    assert graph["runtime.c"] == {}
    # gemm.c's FASTNN_INLINE micro_kernel_v16 is its own; conv2d_indirect.c has one too
    assert "gemm.c" not in graph["conv2d_indirect.c"]


def test_no_c_files_call_each_other_in_a_circle():
    graph = call_graph()
    circles = [describe(find_cycle({a: [b for b in graph[a] if b in t] for a in t}), graph)
               for t in tangles(graph)]
    assert not circles, "C files calling each other in a circle: " + "; ".join(circles)


def test_direct_convolution_calls_nothing_of_conv2d_c():
    """conv2d.c dispatches to conv2d_direct.c; the naive pooled weight gradient
    there once called conv2d.c's naive backward, a circle (issue 17, item 2)."""
    graph = call_graph()
    assert "conv2d.c" not in graph["conv2d_direct.c"], graph["conv2d_direct.c"]
