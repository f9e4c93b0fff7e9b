"""The layering rules of pyproject's [tool.importlinter], and no import cycle anywhere in the
project, counting imports inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Set
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPORTLINTER = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]

# Cycles that exist on purpose for now, each with the change that removes it. A cycle not
# listed here fails the test; a listed one may disappear.
KNOWN_CYCLES: set[frozenset[str]] = {
    # The Codex simulator: leaves the plugin for its own distribution (archive-service-codex-node).
    frozenset(
        {
            "archive_service_codex_node.api",
            "archive_service_codex_node.exchange",
            "archive_service_codex_node.server",
        }
    ),
}


def test_import_contracts_are_kept() -> None:
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--config",
            "pyproject.toml",
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    for contract in IMPORTLINTER["contracts"]:
        assert f"{contract['name']} KEPT" in report, report


def import_cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The strongly connected components of more than one module (or a module importing
    itself): every set of modules that import each other, directly or not."""
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    return strongly_connected(edges)


def strongly_connected(edges: Mapping[str, Set[str]]) -> list[set[str]]:
    # Tarjan's algorithm, iterative (an import chain may be deeper than the recursion limit).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in edges:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        cycles.append(component)
    return cycles


def project_graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *IMPORTLINTER["root_packages"],
        include_external_packages=False,
        exclude_type_checking_imports=False,
        cache_dir=None,
    )


def test_no_import_cycle() -> None:
    unexpected = [c for c in import_cycles(project_graph()) if frozenset(c) not in KNOWN_CYCLES]
    assert not unexpected, f"import cycles: {[sorted(c) for c in unexpected]}"


def test_cycle_check_counts_function_and_type_checking_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself: a cycle closed only by an in-function import, and one closed only
    under TYPE_CHECKING, are both found."""
    package = tmp_path / "cyclic_sample"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_sample import b\n")
    (package / "b.py").write_text("def late():\n    from cyclic_sample import a\n    return a\n")
    (package / "c.py").write_text("from cyclic_sample import d\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic_sample import c\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic_sample", exclude_type_checking_imports=False, cache_dir=None)
    found = sorted(sorted(c) for c in import_cycles(graph))
    assert found == [
        ["cyclic_sample.a", "cyclic_sample.b"],
        ["cyclic_sample.c", "cyclic_sample.d"],
    ]
