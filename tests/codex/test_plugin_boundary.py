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

from archive_service.errors import BackendUnavailableError, ConfigError

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


# names: Logos Storage, formerly Codex (issue 13) -------------------------------------------------
def test_logos_storage_is_the_backend_name_and_codex_an_alias() -> None:
    from archive_service.config import Config
    from archive_service.plugins import (
        backend_factories,
        plugin_manager,
        require_backends,
        with_backend_defaults,
    )

    pm = plugin_manager()
    factories = backend_factories(pm)
    assert "codex" in factories["logos-storage"].aliases and "codex" not in factories
    assert list(require_backends(pm, ["codex", "logos-storage"])) == ["logos-storage"]
    for name in ("codex", "logos-storage"):
        config = Config(
            enabled=[name],
            owner={"distribution": [name]},
            member={"preference": [name]},
            backend={name: {"api": "storage-v1"}},
        )
        resolved = with_backend_defaults(config, factories)
        assert resolved.enabled == ["logos-storage"]
        assert resolved.owner.distribution == ["logos-storage"]
        assert resolved.member.preference == ["logos-storage"]
        assert resolved.backend == {"logos-storage": {"api": "storage-v1"}}
    twice = Config(backend={"codex": {}, "logos-storage": {}})
    with pytest.raises(ConfigError, match="given twice"):
        with_backend_defaults(twice, factories)


async def test_the_state_folder_written_as_codex_moves_to_logos_storage(tmp_path: Path) -> None:
    from archive_service.config import Config
    from archive_service.node import ArchiveNode

    old = tmp_path / "codex" / ("0x" + "02" * 33)
    old.mkdir(parents=True)
    (old / "owner.json").write_text('{"kept": true}')
    node = ArchiveNode.open(Config(data_dir=tmp_path, enabled=["codex"]))
    try:
        assert list(node.backends) == ["logos-storage"]
        assert node.backends["logos-storage"].context.data_dir == tmp_path / "logos-storage"
    finally:
        await node.stop()
    assert not (tmp_path / "codex").exists()
    moved = tmp_path / "logos-storage" / old.name / "owner.json"
    assert moved.read_text() == '{"kept": true}'


async def test_state_under_both_folder_names_is_a_config_error(tmp_path: Path) -> None:
    from archive_service.config import Config
    from archive_service.node import ArchiveNode

    for name in ("codex", "logos-storage"):
        (tmp_path / name / "node").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"state in both .*codex.* and .*logos-storage"):
        ArchiveNode.open(Config(data_dir=tmp_path, enabled=["logos-storage"]))
    assert (tmp_path / "codex" / "node").is_dir()  # nothing moved or lost


def test_the_wire_module_has_the_v3_index_names_as_the_same_classes() -> None:
    from archive_service.wire import pb

    assert pb.LogosStorageWakuMessageArchiveIndex is pb.CodexWakuMessageArchiveIndex
    meta = pb.LogosStorageWakuMessageArchiveIndexMetadata
    assert meta is pb.CodexWakuMessageArchiveIndexMetadata
    index = pb.LogosStorageWakuMessageArchiveIndex()
    index.archives["a"].CopyFrom(meta(cid="zDvZ"))
    data = index.SerializeToString()
    assert pb.CodexWakuMessageArchiveIndex.FromString(data) == index
