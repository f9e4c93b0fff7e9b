"""Local Codex-compatible nodes for these tests: the fixtures are the simulator's
(`archive_service_codex_node.testing`, which documents them)."""

import hypothesis  # noqa: F401
from archive_service_codex_node.testing import (  # noqa: F401 (fixtures)
    codex_cluster,
    codex_node,
    codex_node_factory,
    codex_process,
    codex_retry_budget,
    openapi_path,
)

# `hypothesis` is imported above on purpose: otherwise its pytest plugin imports it only at the
# terminal summary, deep in the stack, where CPython 3.11.7's AST recursion-depth bug
# ("AST constructor recursion depth mismatch") fails the run after all tests passed.
