"""The loopback provider's node options: what a run's `shared` keys make of each node."""

from __future__ import annotations

import inspect

from archive_service_codex_node.loopback import (
    BLOCK_RETRIES,
    BOOTSTRAP,
    OWNER_SPR,
    RETRY_INTERVAL,
    node_options,
)
from archive_service_codex_node.server import LocalCodexNode


def test_members_bootstrap_to_the_owner_or_to_the_given_members() -> None:
    assert node_options("owner", {OWNER_SPR: "spr:owner"})["bootstrap"] == []
    assert node_options("member", {OWNER_SPR: "spr:owner"})["bootstrap"] == ["spr:owner"]
    late = {OWNER_SPR: "spr:owner", BOOTSTRAP: ["spr:m1", "spr:m2"]}
    assert node_options("member", late)["bootstrap"] == ["spr:m1", "spr:m2"]


def test_a_run_can_make_its_nodes_ask_for_blocks_as_persistently_as_a_real_node() -> None:
    defaults = inspect.signature(LocalCodexNode).parameters
    plain = node_options("member", {})
    assert "block_retries" not in plain and "retry_interval" not in plain  # the node's own
    assert (defaults["block_retries"].default, defaults["retry_interval"].default) == (3, 0.2)
    persistent = node_options("member", {BLOCK_RETRIES: 600, RETRY_INTERVAL: 1.0})
    assert (persistent["block_retries"], persistent["retry_interval"]) == (600, 1.0)
    assert set(persistent) <= set(defaults)  # every option is one the node takes
