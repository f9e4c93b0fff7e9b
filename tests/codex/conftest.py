"""Local Codex-compatible nodes for these tests (fixtures documented in the module)."""

from archive_service_codex_node.testing import *  # noqa: F403 (pytest fixtures)
