"""The package's import graph has no cycles and points only down its layers, counting imports
inside functions.

Every `import` / `from ... import` statement in scaling/ counts, wherever it sits (module level,
inside a function), except under `if TYPE_CHECKING:` (never executed). `from scaling.a import b`
is an edge to the module `scaling.a.b` when that is a module, else to `scaling.a`. A module's
implicit import of its parent package is not an edge: a package's __init__ may re-export its
own modules.
"""

import ast
import sys
from pathlib import Path

import scaling

ROOT = Path(scaling.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path | None = None) -> set[str]:
    """The package modules that module `name` imports (its source read from `path` when given)."""
    path = path or MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    package = name if MODULES.get(name, path).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import scaling.a.b` names scaling.a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles() -> list[list[str]]:
    graph = {name: imports_of(name) for name in MODULES}
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return found


def test_no_import_cycles():
    assert cycles() == []


def test_the_checker_sees_imports_inside_functions():
    # scaling.cli imports its command modules; each imports the library inside its command body.
    assert "scaling.fit.approaches" in imports_of("scaling.cli.fit")


# The package's layers, bottom to top. A module may import modules of its own layer or of a layer
# below it, never one above (counting imports inside functions). docs/ARCHITECTURE.md states the
# same order. `scaling` is the package's __init__ (its public re-exports) and `__main__`.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "frames", "provenance"),
    ("document", "atomic"),
    ("config", "schedules"),
    ("flops", "hardware", "datasets"),
    ("rundir",),
    ("runs",),
    ("laws",),
    ("fit",),
    ("planning", "analysis"),
    ("training",),
    ("sweep",),
    ("tuning", "design"),
    ("plot", "trackers"),
    ("report",),
    ("cli",),
    ("scaling", "__main__"),
]
LAYER_OF = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str:
    """The layer entry a module belongs to: `scaling.fit.engine` -> "fit", `scaling` -> "scaling"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the imported module sits in a higher layer."""
    return sorted((source, target) for source, targets in graph.items() for target in targets
                  if LAYER_OF[room(target)] > LAYER_OF[room(source)])


def test_every_module_has_a_layer():
    assert sorted({room(name) for name in MODULES} - set(LAYER_OF)) == []


def test_no_package_imports_a_package_above_it():
    assert upward_imports({name: imports_of(name) for name in MODULES}) == []


def test_a_planted_upward_import_fails(tmp_path):
    # config sits below training: an import of training from inside a config function is caught.
    source = "def check():\n    from scaling.training.hyperparams import resolve\n    return resolve\n"
    planted = tmp_path / "config.py"
    planted.write_text(source)
    graph = {"scaling.config": imports_of("scaling.config", planted)}
    assert upward_imports(graph) == [("scaling.config", "scaling.training.hyperparams")]


def _unexplained_function_imports(name: str, source: str) -> list[str]:
    """`name:line` of each import of a non-stdlib module inside a function with no comment on its
    line, in its block of consecutive imports, or on the line above that block."""
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Import | ast.ImportFrom) or getattr(node, "level", 0):
                continue
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if (module or "").split(".")[0] in sys.stdlib_module_names:
                continue
            first = last = node.lineno - 1
            while first > 0 and lines[first - 1].lstrip().startswith(("from ", "import ")):
                first -= 1
            while last + 1 < len(lines) and lines[last + 1].lstrip().startswith(("from ", "import ")):
                last += 1
            block = lines[first:last + 1] + ([lines[first - 1]] if first > 0 else [])
            if not any("#" in line for line in block):
                found.append(f"{name}:{node.lineno}")
    return found


def test_imports_inside_functions_say_why():
    # A function-level import is kept only for start-up speed (torch, matplotlib, ray, pyarrow,
    # scipy, the trackers, or a CLI command's library) and says so in a comment; the rest sit at
    # the top of their module.
    unexplained = [hit for name, path in sorted(MODULES.items())
                   for hit in _unexplained_function_imports(name, path.read_text())]
    assert unexplained == []


def test_an_unexplained_function_import_is_caught():
    source = "def f():\n    import numpy\n    return numpy\n\n\ndef g():\n    # lazy: start-up speed\n    import torch\n"
    assert _unexplained_function_imports("m", source) == ["m:2"]
