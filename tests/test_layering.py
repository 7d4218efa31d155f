"""The direction of imports (DEVELOPERS.md, STYLE.md rule 4), read from the real source.

Every ``import`` and ``from ... import`` in ``src/jarvl`` (inside functions and ``TYPE_CHECKING``
blocks too, relative ones resolved) is parsed with ``ast``; each rule names a layer and the layers
it must not import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LIBRARY = ("jarvl.models", "jarvl.data", "jarvl.evaluation", "jarvl.profiling", "jarvl.train", "jarvl.blocks", "jarvl.inference")
FRONT = ("jarvl.cli", "jarvl.__main__")  # the command line, the demo and its plots
SHARED = ("jarvl.registry", "jarvl.config", "jarvl.errors", "jarvl.devices", "jarvl.imagenet")

# (importer, what it must not import, why)
RULES = [
    (LIBRARY, FRONT, "the library never imports the command line or the demo"),
    (("jarvl.models", "jarvl.data", "jarvl.blocks", "jarvl.inference", "jarvl.evaluation", "jarvl.profiling"), ("jarvl.train",),
     "only the command line uses the trainer"),
    (("jarvl.data", "jarvl.blocks"), ("jarvl.models",), "the data layer knows nothing of models"),
    (("jarvl.evaluation",), ("jarvl.models", "jarvl.inference"), "evaluators get predict functions, never a model"),
    (("jarvl.blocks",), ("jarvl.models", "jarvl.data"), "blocks are the layer below models and fusions"),
    (("jarvl.models.fusions",), ("jarvl.models",), "fusions build on jarvl.blocks, never on the models that use them"),
    (SHARED, LIBRARY + FRONT + ("jarvl.checkpoint_layout",), "the shared helpers sit below every layer"),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, with ``from a import b`` giving a and a.b."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """``'A imports B: why'`` for every import that breaks a rule."""
    out = []
    for importers, banned, why in RULES:
        for module, targets in sorted(graph.items()):
            if not within(module, importers):
                continue
            for target in sorted(targets):
                if not target.startswith("jarvl") or not within(target, banned):
                    continue
                own = next(p for p in importers if within(module, (p,)))
                if within(target, (own,)):
                    continue  # inside its own layer (a fusion importing fusions.base)
                out.append(f"{module} imports {target}: {why}")
    return out


def source_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((SRC / "jarvl").rglob("*.py")):
        name = module_name(path)
        graph[name] = imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return graph


def test_imports_point_down():
    graph = source_graph()
    assert len(graph) > 50 and any(t.startswith("jarvl.") for ts in graph.values() for t in ts)
    assert violations(graph) == []


@pytest.mark.parametrize(
    "module, source, broken",
    [
        ("jarvl.models.model", "def f():\n    from jarvl.train.trainer import Trainer\n", "jarvl.train.trainer"),
        ("jarvl.data.loader", "from jarvl.models import build_model\n", "jarvl.models"),
        ("jarvl.data.readers.vqa2", "from ...train import config\n", "jarvl.train"),
        ("jarvl.train.trainer", "import jarvl.cli.main\n", "jarvl.cli.main"),
        ("jarvl.evaluation.official", "from jarvl.cli.demo import run_demo\n", "jarvl.cli.demo"),
        ("jarvl.inference", "from jarvl.train.checkpoint import save_checkpoint\n", "jarvl.train.checkpoint"),
        ("jarvl.models.fusions.jar", "from jarvl.models.model import JARVLModel\n", "jarvl.models.model"),
        (
            "jarvl.data.mixture.base",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from jarvl.train import config\n",
            "jarvl.train",
        ),
    ],
)
def test_the_check_catches_a_wrong_import(module, source, broken):
    graph = {module: imports_of(source, module, is_package=False)}
    assert any(f"{module} imports {broken}" in v for v in violations(graph))


def test_the_check_allows_imports_within_a_layer():
    graph = {
        "jarvl.models.fusions.jar": imports_of(
            "from .base import Fusion\nfrom jarvl.blocks.layers import MLP\n", "jarvl.models.fusions.jar", False
        ),
        "jarvl.train.trainer": imports_of(
            "from jarvl.models import build_model\nfrom jarvl.inference import predict_fn\n", "jarvl.train.trainer", False
        ),
    }
    assert violations(graph) == []


def test_no_import_cycle_between_modules():
    """No two modules import each other (at any depth inside functions too): data/mixture base <-> config was one."""
    graph = source_graph()
    modules = set(graph)
    edges = {m: {t for t in ts if t in modules and t != m} for m, ts in graph.items()}
    cycles = sorted(f"{a} <-> {b}" for a, ts in edges.items() for b in ts if a in edges.get(b, ()) and a < b and not _package_of(a, b))
    assert cycles == []


def _package_of(a: str, b: str) -> bool:
    # A package's __init__ importing its submodules, and those importing a sibling through it, are not a cycle of concepts.
    return a.startswith(b + ".") or b.startswith(a + ".")
