"""The REST conformance suite (conformance.py) against the simulator in each generation (and as
the pre-v0.2.0 build of issue 13), always, and against a real node named by
CODEX_TEST_NODE_URL (its generation probed). `pytest -m conformance` runs only these and prints
the table of what every node answered."""

from __future__ import annotations

import os

import conformance
import httpx
import pytest
from archive_service_codex.client import ApiGeneration, CodexClient, node_root

pytestmark = pytest.mark.conformance

REAL_NODE_ENV = "CODEX_TEST_NODE_URL"
SIMULATORS = {
    "simulator codex-v1": {"api": "codex-v1"},
    "simulator storage-v1": {"api": "storage-v1"},
    "simulator legacy build": {"api": "codex-v1", "legacy_build": True},
}
TARGETS = [*SIMULATORS, "real node"]


def cases() -> list[tuple[str, str]]:
    out = []
    for target in TARGETS:
        for name in conformance.CHECKS:
            out.append((target, name))
    return out


@pytest.mark.parametrize(("target", "name"), cases())
async def test_node_answers_as_expected(codex_node_factory, target: str, name: str) -> None:
    if target == "real node":
        url = os.environ.get(REAL_NODE_ENV, "")
        if not url:
            pytest.skip(f"{REAL_NODE_ENV} is not set (the REST URL of a real node)")
        async with CodexClient(node_root(url), api="auto") as probe:
            generation = await probe.generation()
        root = node_root(url)
    else:
        node = await codex_node_factory("conformance", **SIMULATORS[target])
        generation, root = node.api, node_root(node.api_url)
    generations, run = conformance.CHECKS[name]
    if not conformance.applies(generations, generation):
        pytest.skip(f"{name} is not part of {generation}")
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        outcome = await run(conformance.Node(root, ApiGeneration(generation), http))
    conformance.RESULTS.append(
        conformance.Row(target, generation, name, outcome.expected, outcome.observed, outcome.ok)
    )
    assert outcome.ok, (
        f"{target} ({generation}) {name}: expected {outcome.expected}, got {outcome.observed}"
    )
