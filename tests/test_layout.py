"""The house by stage: the folder listing reads as the data flow, and imports only run down.

The import graph is read from the source with ``ast`` (imports inside functions included), so a
lazy import that runs back up is caught as surely as one at the top of a module.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stalkrisk"

#: Stages from the bottom up: a module may import its own stage or any below it, never above.
LAYERS: list[set[str]] = [
    {"stalkrisk", "errors", "defaults", "paths", "io_utils", "progress", "text"},
    {"data"},
    {"synth", "validation", "features"},
    {"model", "config"},  # config checks model parameters against model.supported
    {"explain"},
    {"outputs"},  # the output folder's format: scoring writes it, audit and the workbench read it
    {"scoring"},
    {"evaluate"},
    {"training"},
    {"tracking"},
    {"report"},
    {"pipelines"},
    {"audit", "workbench"},  # audit reproduces a run (it calls the scoring pipeline); the workbench reads one
    {"cli"},
    {"demo", "__main__"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: The process-level speed machinery is for pipelines (and the command's exit) alone.
RUNTIME_USERS = {"pipelines", "cli", "_runtime"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """The stalkrisk modules ``name`` imports at run time (a package's ``__init__`` when a name is not
    a module); imports under ``if TYPE_CHECKING:`` are for type hints and never run."""
    known, out = modules(), set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]:
        block.body = []  # imports for type hints only never run
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else ".".join(name.split(".")[: -node.level] + [node.module])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("stalkrisk") and target != name:
                out.add(target)
    return out


@cache
def graph() -> dict[str, set[str]]:
    return {name: imported(name, path) for name, path in modules().items()}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_the_listing_shows_the_stages():
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len([n for n in top if n not in ("__init__.py", "__main__.py")]) <= 12, top
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert {"data", "validation", "features", "model", "explain", "evaluate", "training", "tracking",
            "report", "outputs", "audit", "pipelines", "cli", "_runtime"} <= packages


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_over_600_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 600


def test_every_stage_has_a_layer():
    assert {stage(m) for m in modules()} - {"_runtime"} <= set(RANK)


def test_imports_only_run_down():
    up = [(m, t) for m, targets in graph().items() for t in targets
          if stage(t) != "_runtime" and stage(m) != "_runtime" and RANK[stage(t)] > RANK[stage(m)]]
    assert up == []


def test_runtime_machinery_only_behind_the_pipelines_seam():
    users = sorted({m for m, targets in graph().items() for t in targets if stage(t) == "_runtime"
                    and stage(m) not in RUNTIME_USERS})
    assert users == []


def test_the_renderer_and_the_audit_keep_their_distance():
    g = graph()
    assert not [(m, t) for m in g if stage(m) == "report" for t in g[m] if stage(t) in ("audit", "pipelines")]
    assert not [(m, t) for m in g if stage(m) == "audit" for t in g[m] if stage(t) == "synth"]


def test_no_cycles_and_at_most_12_levels():
    g, depth, on_path = graph(), {}, set()

    def level(m: str) -> int:
        assert m not in on_path, f"import cycle through {m}"
        if m not in depth:
            on_path.add(m)
            depth[m] = 1 + max((level(t) for t in g[m]), default=0)
            on_path.discard(m)
        return depth[m]

    deepest = max(g, key=level)
    assert level(deepest) <= 12, deepest


def test_the_checker_sees_a_lazy_import(tmp_path):
    """The graph includes imports inside functions: the ones most likely to run back up."""
    assert "stalkrisk.cli.commands" in graph()["stalkrisk.demo"]
    assert any(t.startswith("stalkrisk.pipelines") for t in graph()["stalkrisk.cli.commands"])
