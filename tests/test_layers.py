"""Imports only point down: every module of ``humansplat/`` sits in a layer (docs/architecture.md), and
an import of a module in the same or a higher layer fails here, naming the file, the line and both layers.

Read with ``ast`` (no module is imported): top-level imports, imports inside functions and imports under
``if TYPE_CHECKING:`` alike (a type hint that points up is a wrong layer too), relative and absolute.
Units in the same layer are independent (no import between them); inside a unit (one package, or one
module) imports may go either way but must not form a cycle.

Entry points (``__main__`` modules) form a layer of their own, just under the ``humansplat`` command
(``cli``): they may import everything else but not ``cli`` nor each other, and nothing imports them.
The package root (``humansplat/__init__.py``) loads its names lazily by string and sits above all.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "humansplat"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "parts", "geometry"),  # foundations: messages, part names, rotations and axis flips
    ("cameras", "gaussians", "imaging"),  # the camera convention, the Gaussians, fills and metrics
    ("render", "io", "hub"),  # renderers, file formats, weight downloads
    ("objectives", "weights"),  # losses on rendered views; where weights came from
    ("prior",),  # detection, body models, the body fit
    ("orbit", "modes"),  # orbits about the fitted body; the mode words and the auto rule
    ("prior_mode", "multiview", "avatar_views"),  # Gaussians from the prior; the synthesizer; the avatar's views
    ("network",),  # the reconstruction transformer (uses the synthesizer)
    ("views_mode",),  # the synthesizer's views, then the Gaussian fit
    ("gpu_stage",),  # the networks' part of a run as one call
    ("result",),  # what a run produced and its files
    ("api",),  # the stages of a run
    ("data",),  # consumers: scans -> datasets
    ("eval", "animate"),  # consumers: evaluation; animation
    ("train", "selfcheck"),  # consumers: training (uses eval's metrics); the synthesizer's self-check
    ("__main__",),  # entry points: python -m humansplat.<package>
    ("cli", "app"),  # the humansplat command; the Gradio app (app.py is its shell)
    ("",),  # the package root, humansplat/__init__.py
)
"""Bottom to top. A unit is a top-level module or package of ``humansplat`` (``"__main__"``: every entry point)."""

LEVEL: dict[str, int] = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as a module of ``humansplat``."""

    source: str  # importing module, e.g. "humansplat.prior.fit"
    target: str  # imported module (the longest existing module prefix of the name)
    path: Path
    line: int
    inner: bool  # inside a function
    type_only: bool  # under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _existing(name: str) -> str:
    """The longest prefix of a dotted name that is a module of the package (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, inner: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            child_inner = inner or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            child_type = type_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    stem = ".".join(base + ([child.module] if child.module else []))
                else:
                    stem = child.module or ""
                names = [f"{stem}.{alias.name}" for alias in child.names]
            for name in names:
                if name == "humansplat" or name.startswith("humansplat."):
                    target = _existing(name)
                    if target and target != module:
                        yield Import(module, target, path, child.lineno, inner, type_only)
            yield from visit(child, child_inner, child_type)

    yield from visit(tree, False, False)


IMPORTS: list[Import] = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def unit_of(module: str) -> str:
    """The layer unit of a module: ``"__main__"`` for entry points, else its first name under ``humansplat``."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    return parts[1] if len(parts) > 1 else ""


def _where(imp: Import) -> str:
    kind = " (inside a function)" if imp.inner else " (TYPE_CHECKING only)" if imp.type_only else ""
    return f"{imp.path.relative_to(ROOT.parent)}:{imp.line}: {imp.source} imports {imp.target}{kind}"


def test_every_module_has_a_layer():
    missing = sorted({unit_of(m) for m in MODULES} - set(LEVEL))
    assert not missing, f"modules of humansplat/ with no layer in LAYERS (add them to tests/test_layers.py): {missing}"


def test_imports_point_down():
    wrong: list[str] = []
    for imp in IMPORTS:
        a, b = unit_of(imp.source), unit_of(imp.target)
        if a == b and a != "__main__":
            continue  # inside one unit: see test_no_cycle_inside_a_unit
        la, lb = LEVEL[a], LEVEL[b]
        if lb > la:
            wrong.append(f"{_where(imp)}: points up, from layer {la} ({a or 'humansplat'}) to layer {lb} ({b or 'humansplat'})")
        elif lb == la:
            wrong.append(f"{_where(imp)}: sideways between independent units {a or 'humansplat'} and {b} (layer {la})")
    wrong = list(dict.fromkeys(wrong))  # one line per statement (``from x import a, b`` names x once)
    assert not wrong, "imports must point down (layers in tests/test_layers.py, docs/architecture.md):\n" + "\n".join(wrong)


def test_no_cycle_inside_a_unit():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    lines: dict[tuple[str, str], Import] = {}
    for imp in IMPORTS:
        if unit_of(imp.source) == unit_of(imp.target):
            graph[imp.source].add(imp.target)
            lines.setdefault((imp.source, imp.target), imp)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            steps = [_where(lines[(a, b)]) for a, b in itertools.pairwise(cycle)]
            pytest.fail("import cycle (move the shared part down into its own module):\n" + "\n".join(steps))


def test_the_layer_check_names_file_line_and_layers():
    """The check itself: an upward import is reported with its file, line and both layers."""
    up = Import("humansplat.render.mesh", "humansplat.prior.parts", ROOT / "render" / "mesh.py", 7, True, False)
    assert _where(up) == "humansplat/render/mesh.py:7: humansplat.render.mesh imports humansplat.prior.parts (inside a function)"
    assert LEVEL[unit_of(up.target)] > LEVEL[unit_of(up.source)]
    assert unit_of("humansplat.prior.__main__") == "__main__" and unit_of("humansplat.prior.fit") == "prior"
    assert _existing("humansplat.render.render") == "humansplat.render"
    assert LEVEL["__main__"] < LEVEL["cli"]  # an entry point may not import the humansplat command


def test_imports_were_found():
    """The parser sees relative, absolute, in-function and TYPE_CHECKING imports (else the checks above pass vacuously)."""
    found = {(imp.source, imp.target) for imp in IMPORTS}
    assert ("humansplat.prior.fit", "humansplat.geometry") in found  # relative, top level
    assert ("humansplat.multiview.load", "humansplat.hub") in found  # absolute
    assert any(imp.inner for imp in IMPORTS) and any(imp.type_only for imp in IMPORTS)
    assert len(IMPORTS) > 300


def test_views_fit_does_not_import_training():
    """The views-mode fit uses the objectives, not the trainer (nor its data, EMA or accelerate)."""
    code = (
        "import sys, humansplat.views_mode.fit\n"
        "print(sorted(m for m in sys.modules if m == 'humansplat.train' or m.startswith('humansplat.train.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent, check=True)
    assert out.stdout.strip() == "[]", f"importing humansplat.views_mode.fit imported {out.stdout.strip()}"
