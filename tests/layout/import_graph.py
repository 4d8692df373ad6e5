"""The import graph of memsweep's packages, read from their source with `ast` (nothing imported).

Every `import` and `from ... import` counts, wherever it stands: at module level, under `if`,
`try` or `TYPE_CHECKING`, in a class body or inside a function. `from X import Y` is an edge
to the module X.Y when Y is one, else to X. Importing a submodule runs its packages'
`__init__.py` first, so those are edges too (an `__init__` that imports nothing adds none).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import deque
from dataclasses import dataclass
from pathlib import Path

# Layer of each package, bottom up; a package imports only from a lower layer. reliability/
# and bench/ (self-tests) sit above the whole pipeline, which never imports them; memsweep/ is
# the command line, the one package that wires every other together (its `faults` and
# `bench-*` subcommands included), so it is the top.
LAYERS = {"suite": 0, "results": 1, "jobs": 2, "analysis": 2, "slurm": 3,
          "reliability": 4, "bench": 4, "memsweep": 5}
ORDER = ("suite <- results <- jobs, analysis <- slurm <- reliability, bench <- memsweep; "
         "packages of one layer do not import each other")
# A function-level import must say why it is late, on its line or the line above.
LATE = re.compile(r"\b(late|lazily|lazy|heavy)\b", re.IGNORECASE)
# What may be loaded late: slow to import, or with side effects at import (mpi4py starts MPI,
# py-cpuinfo runs `file` and `uname`). A project module counts when its module-level imports
# reach one of these.
HEAVY = frozenset({"torch", "deepspeed", "pandas", "matplotlib", "mpi4py", "bitsandbytes",
                   "pyarrow", "cpuinfo"})


@dataclass(frozen=True, kw_only=True)
class Import:
    file: str  # relative to the root, e.g. "jobs/train.py"
    line: int
    module: str  # the importing module, e.g. "jobs.train"
    target: str  # a project module ("jobs.inference") or a top-level external name ("torch")
    text: str  # the statement as written (first line)
    in_function: bool
    commented_late: bool  # a comment on its lines, the line above or its block says it is late

    @property
    def project(self) -> bool:
        return self.target.split(".")[0] in LAYERS

    def where(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_files(root: Path, packages=tuple(LAYERS)) -> dict[str, Path]:
    """Every module of `packages` under `root`: dotted name -> file."""
    found = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def _comment_lines(source: str) -> set[int]:
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and LATE.search(tok.string):
            lines.add(tok.start[0])
    return lines


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of `name` that is a known module (a project name that is not, as is)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return name if parts[0] in LAYERS else parts[0]


def _base(module: str, is_package: bool, level: int) -> str:
    parts = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def _targets(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]):
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _resolve(alias.name, modules)
        return
    base = node.module or ""
    if node.level:
        pkg = _base(module, is_package, node.level)
        base = f"{pkg}.{base}" if node.module else pkg
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in modules else _resolve(base, modules)


def imports_of(root: Path, path: Path, modules: dict[str, Path]) -> list[Import]:
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    late = _comment_lines(source)
    module = module_name(root, path)
    is_package = path.name == "__init__.py"
    lines = source.splitlines()
    found: list[Import] = []
    covered: dict[int, bool] = {}  # last line of an import statement -> its comment says late

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                end = child.end_lineno or child.lineno
                # a comment on its lines or the line above, or on the block of imports it ends
                said = (any(n in late for n in range(child.lineno - 1, end + 1))
                        or covered.get(child.lineno - 1, False))
                covered[end] = said
                for target in dict.fromkeys(_targets(child, module, is_package, modules)):
                    found.append(Import(
                        file=path.relative_to(root).as_posix(), line=child.lineno,
                        module=module, target=target, text=lines[child.lineno - 1].strip(),
                        in_function=in_function, commented_late=said))
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, in_function or inner)

    visit(tree, False)
    return found


def all_imports(root: Path, packages=tuple(LAYERS)) -> list[Import]:
    modules = package_files(root, packages)
    return [imp for path in modules.values() for imp in imports_of(root, path, modules)]


def edges(imports: list[Import], modules: set[str]) -> dict[str, dict[str, Import]]:
    """module -> {module it runs on import -> the import statement that makes it run}."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in modules}
    for imp in imports:
        if imp.target not in modules:
            continue
        parts = imp.target.split(".")
        # the target and the packages above it that the importer is not already inside
        for n in range(1, len(parts) + 1):
            dep = ".".join(parts[:n])
            if dep in modules and dep != imp.module and not imp.module.startswith(dep + "."):
                graph[imp.module].setdefault(dep, imp)
    return graph


@dataclass(frozen=True, kw_only=True)
class Edge:
    source: str
    target: str  # the module that runs: the import's target or a package above it
    by: Import


def cycles(graph: dict[str, dict[str, Import]]) -> list[list[Edge]]:
    """One shortest cycle per strongly connected component of more than one module."""
    return [_shortest_cycle(graph, min(component), component)
            for component in _components(graph) if len(component) > 1]


def _components(graph: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (deep chains stay off the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.add(m)
                    if m == node:
                        break
                out.append(comp)
    return out


def _shortest_cycle(graph, start: str, component: set[str]) -> list[Import]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in component:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                path.reverse()
                path.append(start)
                pairs = zip(path, path[1:], strict=False)
                return [Edge(source=a, target=b, by=graph[a][b]) for a, b in pairs]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def layer_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        src, dst = imp.module.split(".")[0], imp.target.split(".")[0]
        if not imp.project or src == dst or LAYERS[dst] < LAYERS[src]:
            continue
        allowed = sorted(p for p, n in LAYERS.items() if n < LAYERS[src]) or ["no other package"]
        out.append(f"{imp.where()} — {src} imports {dst}, which is not below it "
                   f"({src} may import only {', '.join(allowed)}; layer order: {ORDER})")
    return out


def heavy_modules(imports: list[Import]) -> dict[str, str]:
    """Project module -> the heavy dependency its module-level imports load (directly or not)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.in_function:
            graph.setdefault(imp.module, set()).add(imp.target)
    heavy: dict[str, str] = {}
    for module in graph:
        seen, todo = {module}, [module]
        while todo and module not in heavy:
            for target in sorted(graph.get(todo.pop(), ())):
                if target.split(".")[0] in HEAVY:
                    heavy[module] = target.split(".")[0]
                    break
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    return heavy


def late_violations(imports: list[Import]) -> list[str]:
    """Function-level imports other than a heavy dependency loaded late, with a comment."""
    heavy = heavy_modules(imports)
    out = []
    for imp in imports:
        if not imp.in_function:
            continue
        loads = heavy.get(imp.target) if imp.project else imp.target
        if imp.project and loads is None:
            out.append(f"{imp.where()} — function-level import of the project module "
                       f"{imp.target}, which loads nothing heavy ({', '.join(sorted(HEAVY))}): "
                       f"move it to the top of the file (if that makes a cycle, move the "
                       f"shared code down a layer instead)")
        elif not imp.commented_late:
            what = imp.target if loads == imp.target else f"{imp.target} (it loads {loads})"
            out.append(f"{imp.where()} — function-level import of {what} without a comment "
                       f"saying it is deliberately late: move it to the top of the file, or "
                       f"say why on its line or the line above, e.g. `# heavy: {loads} "
                       f"loaded late, only when a run starts`")
    return out


def describe_cycle(cycle: list[Edge]) -> str:
    names = " -> ".join([cycle[0].source] + [e.target for e in cycle])
    lines = [f"    {e.by.where()}" + ("" if e.target == e.by.target
                                      else f" (runs {e.target}'s __init__.py first)")
             for e in cycle]
    return f"import cycle {names}:\n" + "\n".join(lines)
