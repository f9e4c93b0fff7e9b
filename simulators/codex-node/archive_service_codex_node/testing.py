"""Pytest fixtures that start local Codex-compatible nodes (real HTTP servers on 127.0.0.1,
each with its own temporary data dir). Every node or process a fixture starts is stopped at
teardown.

- `codex_node`: one started in-process `LocalCodexNode`.
- `codex_node_factory(name="n0", **kwargs)`: start more nodes (kwargs as LocalCodexNode's;
  the retry budget defaults to TEST_RETRIES × TEST_RETRY_INTERVAL, i.e. an unknown CID fails
  after ≈0.2 s).
- `codex_cluster(n=2, link="connect"|"bootstrap"|None, **kwargs)`: n nodes; "connect" makes
  each later node `/connect` to every earlier one, "bootstrap" starts each later node with the
  SPRs of the earlier ones (as nim-codex's integration tests do).
- `codex_process(name="p0", *args)`: a node in a subprocess (`NodeProcess`), for kill/restart.
- `codex_retry_budget`: that wait in seconds.
- `openapi_path`: the Codex plugin's copy of nim-codex's openapi.yaml (editable install).

A conftest takes them all with `from archive_service_codex_node.testing import *` (tests of
the plugin and of the node share them); the module needs pytest, httpx and hypothesis, which
only tests install.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import archive_service_codex
import httpx
import hypothesis  # noqa: F401
import pytest

from archive_service_codex_node.process import NodeProcess
from archive_service_codex_node.server import LocalCodexNode

# `hypothesis` is imported above on purpose: otherwise its pytest plugin imports it only at the
# terminal summary, deep in the stack, where CPython 3.11.7's AST recursion-depth bug
# ("AST constructor recursion depth mismatch") fails the run after all tests passed.

__all__ = [
    "codex_cluster",
    "codex_node",
    "codex_node_factory",
    "codex_process",
    "codex_retry_budget",
    "openapi_path",
]

TEST_RETRIES = 2
TEST_RETRY_INTERVAL = 0.1

NodeFactory = Callable[..., Awaitable[LocalCodexNode]]
ClusterFactory = Callable[..., Awaitable[list[LocalCodexNode]]]
ProcessFactory = Callable[..., Awaitable[NodeProcess]]


@pytest.fixture
def codex_retry_budget() -> float:
    """Seconds a fixture node waits for a CID nobody has (per wait)."""
    return TEST_RETRIES * TEST_RETRY_INTERVAL


@pytest.fixture
def openapi_path() -> Path:
    return Path(archive_service_codex.__file__).resolve().parents[1] / "openapi.yaml"


@pytest.fixture
async def codex_node_factory(tmp_path: Path) -> AsyncIterator[NodeFactory]:
    started: list[LocalCodexNode] = []

    async def make(name: str | None = None, **kwargs: Any) -> LocalCodexNode:
        kwargs.setdefault("block_retries", TEST_RETRIES)
        kwargs.setdefault("retry_interval", TEST_RETRY_INTERVAL)
        node = LocalCodexNode(tmp_path / (name or f"node{len(started)}"), **kwargs)
        await node.start()
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        await node.stop()


@pytest.fixture
async def codex_node(codex_node_factory: NodeFactory) -> LocalCodexNode:
    return await codex_node_factory("node")


@pytest.fixture
def codex_cluster(codex_node_factory: NodeFactory) -> ClusterFactory:
    async def make(n: int = 2, link: str | None = "connect", **kwargs: Any) -> list[LocalCodexNode]:
        nodes: list[LocalCodexNode] = []
        for i in range(n):
            extra = dict(kwargs)
            if link == "bootstrap":
                extra["bootstrap"] = [node.spr for node in nodes]
            node = await codex_node_factory(f"cluster{i}", **extra)
            if link == "connect":
                async with httpx.AsyncClient() as client:
                    for earlier in nodes:
                        r = await client.get(
                            f"{node.api_url}/connect/{earlier.peer_id}",
                            params={"addrs": earlier.listen_addrs},
                        )
                        assert r.status_code == 200, r.text
            nodes.append(node)
        return nodes

    return make


@pytest.fixture
def codex_process(tmp_path: Path) -> Iterator[ProcessFactory]:
    procs: list[NodeProcess] = []

    async def make(name: str | None = None, *args: str, api_port: int = 0) -> NodeProcess:
        retries = [
            "--block-retries",
            str(TEST_RETRIES),
            "--retry-interval",
            str(TEST_RETRY_INTERVAL),
        ]
        proc = NodeProcess(
            tmp_path / (name or f"proc{len(procs)}"), api_port=api_port, args=[*retries, *args]
        )
        procs.append(proc)
        await proc.astart()
        return proc

    yield make
    for proc in procs:
        proc.kill()


def blocks_reach(node: LocalCodexNode, predicate: Callable[[int], bool]) -> asyncio.Event:
    """An event set once `predicate(node.store.total_blocks)` holds, checked now and after each
    block the node stores or rolls back: a test awaits it instead of polling `/space`."""
    store = node.store
    reached = asyncio.Event()

    def check() -> None:
        if predicate(store.total_blocks):
            reached.set()

    for name in ("put", "discard_unreferenced", "delete_block"):
        original = getattr(store, name)

        def observed(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            try:
                return _original(*args, **kwargs)
            finally:
                check()

        setattr(store, name, observed)
    check()
    return reached
