"""The Codex plugin stands without the simulator and the application: loading it imports no
aiohttp, no typer, no local node and no lab, and its distribution depends on httpx only."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from archive_service_codex import managed
from archive_service_codex.managed import ManagedNode

from archive_service.errors import BackendUnavailableError

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "backends" / "codex"
FORBIDDEN = ("aiohttp", "typer", "archive_service_codex_node", "archive_service.lab")


def test_loading_the_plugin_imports_no_harness() -> None:
    code = (
        "import sys, archive_service_codex.plugin, archive_service_codex.backend, "
        "archive_service_codex.tools\n"
        f"print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plugin_depends_on_the_core_and_httpx_only() -> None:
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    names = [dep.split(">")[0].split("=")[0].strip() for dep in project["dependencies"]]
    assert names == ["archive-service", "httpx"]


async def test_managed_node_without_the_simulator_is_one_actionable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(managed, "SIMULATOR_MODULE", "archive_service_codex_node_absent")
    node = ManagedNode(
        tmp_path / "node", api_port=0, storage_quota=1 << 20, block_retries=1, retry_interval=0
    )
    with pytest.raises(BackendUnavailableError, match="pip install archive-service-codex-node"):
        await node.start()
