"""The simulator's generations: `--api storage-v1` (Logos Storage), the default Codex one, the
pre-v0.2.0 `--legacy-build` and `--network-miss-wait`, through the command line, a child
process and a restart. The REST answers themselves are pinned by the conformance suite
(tests/codex/test_conformance.py) and the client tests (tests/codex/test_generations.py)."""

from __future__ import annotations

import httpx
import pytest
from archive_service_codex.cid import ManifestCoder, compute_manifest
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.cli import build_parser, run_node_cli


def test_command_line_flags() -> None:
    args = build_parser().parse_args(
        ["-d", "x", "--api", "storage-v1", "--network-miss-wait", "600", "--legacy-build"]
    )
    assert (args.api, args.network_miss_wait, args.legacy_build) == ("storage-v1", 600.0, True)
    defaults = build_parser().parse_args(["-d", "x"])
    assert (defaults.api, defaults.network_miss_wait, defaults.legacy_build) == (
        "codex-v1",
        0.0,
        False,
    )


def test_bad_flags_are_one_line_errors(tmp_path, capsys) -> None:
    assert run_node_cli(["-d", str(tmp_path / "n"), "--network-miss-wait", "-1"]) == 2
    assert "--network-miss-wait must be ≥ 0" in capsys.readouterr().err
    for port in ("70000", "-1"):
        assert run_node_cli(["-d", str(tmp_path / "n"), "--api-port", port]) == 2
        err = capsys.readouterr().err
        assert f"--api-port {port} is not a port (0-65535)" in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["-d", "x", "--api", "storage-v2"])


def test_a_legacy_build_is_a_codex_build(tmp_path) -> None:
    with pytest.raises(ValueError, match="codex-v1"):
        LocalCodexNode(tmp_path, api="storage-v1", legacy_build=True)


async def test_storage_manifests_survive_a_restart(tmp_path) -> None:
    data = b"some file contents"
    expected = compute_manifest(data, coder=ManifestCoder.STORAGE)
    async with LocalCodexNode(tmp_path / "n", api="storage-v1") as node:
        assert node.api_url.endswith("/api/storage/v1")
        async with httpx.AsyncClient(trust_env=False) as http:
            cid = (await http.post(node.api_url + "/data", content=data)).text
    assert cid == expected.cid.text
    async with LocalCodexNode(tmp_path / "n", api="storage-v1") as node:
        async with httpx.AsyncClient(trust_env=False) as http:
            listed = (await http.get(node.api_url + "/data")).json()
            body = (await http.get(f"{node.api_url}/data/{cid}")).content
    assert listed["content"][0]["cid"] == cid
    assert listed["content"][0]["manifest"]["manifestVersion"] == 0
    assert body == data


async def test_a_child_process_answers_as_logos_storage(codex_process) -> None:
    proc = await codex_process("storage", "--api", "storage-v1")
    assert proc.api_url.endswith("/api/storage/v1")
    async with httpx.AsyncClient(trust_env=False) as http:
        info = (await http.get(proc.api_url + "/debug/info")).json()
        codex = await http.get(proc.api_url.replace("/storage/", "/codex/") + "/debug/info")
    assert "storage" in info and "codex" not in info
    assert (codex.status_code, codex.text) == (404, "")
