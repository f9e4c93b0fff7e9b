"""The library stands alone: built from this tree, installed offline into a fresh virtualenv
with only its own dependencies (the wheelhouse `.wheels/` that `scripts/setup` fills), it
imports without the application's dependencies and runs a node with the built-in no-op
backend."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".wheels"
APPLICATION_ONLY = ("typer", "rich", "numpy", "psutil", "archive_service_cli")

# Runs inside the fresh virtualenv: no application module may be importable, and an owner
# node with only `noop` enabled creates three weekly archives from its store's messages.
NODE_RUN = """
import asyncio, importlib.util, sys
from importlib.metadata import entry_points, requires
from pathlib import Path

import coincurve

from archive_service.types import StoredMessage
from archive_service.config import Config, MemberSettings, OwnerSettings
from archive_service.events import (
    ArchiveBuilt, CreatingHistoryArchives, NoHistoryArchivesCreated,
)
from archive_service.hookspecs import hookimpl
from archive_service.ids import keccak256, topic_from_chat_id, universal_chat_id
from archive_service.node import ArchiveNode
from archive_service.plugins import plugin_manager
from archive_service.store import Community

present = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
assert not present, f"importable without being installed: {present}"
pm = plugin_manager()
pm.check_pending()
assert pm.get_plugin("noop") is not None

WEEK = 7 * 24 * 3600
T0 = 1_700_000_000 - 1_700_000_000 % WEEK


class Events:
    def __init__(self):
        self.seen = []

    @hookimpl
    def archive_event(self, event):
        self.seen.append(event)


async def main(data_dir):
    owner_key = coincurve.PrivateKey()
    community_id = owner_key.public_key.format()
    topic = topic_from_chat_id(universal_chat_id(community_id))
    events = Events()
    config = Config(
        data_dir=data_dir,
        enabled=["noop"],
        owner=OwnerSettings(distribution=["noop"]),
        member=MemberSettings(preference=["noop"]),
    )
    async with ArchiveNode.open(config, plugins=[events]) as node:
        node.store.save_community(Community(id=community_id, private_key=owner_key.secret))
        node.store.save_waku_messages(
            StoredMessage(
                sig=bytes(65),
                timestamp=T0 + i * 86_400,
                topic=topic,
                payload=f"message {i}".encode(),
                padding=b"",
                hash=keccak256(i.to_bytes(4, "big")),
            )
            for i in range(21)
        )
        community = node.store.get_community(community_id)
        results = await node.manager.create_and_seed_history_archive(
            community, T0, T0 + 3 * WEEK
        )
        assert node.store.get_last_archive_end_date(community_id) == T0 + 3 * WEEK
    assert list(results) == ["noop"] and results["noop"].backend == "noop", results
    built = [e for e in events.seen if isinstance(e, ArchiveBuilt)]
    assert [e.message_count for e in built] == [7, 7, 7], built
    creating = [e.backend for e in events.seen if isinstance(e, CreatingHistoryArchives)]
    published = [e.backend for e in events.seen if isinstance(e, NoHistoryArchivesCreated)]
    assert creating == ["noop"] and published == ["noop"], events.seen
    print("archives", len(built))


asyncio.run(main(Path(sys.argv[1])))
"""


def _requirements(distribution: str) -> set[str]:
    """Names of what `distribution` requires (its extras left out)."""
    return {
        re.split(r"[ <>=!~;\[]", spec, maxsplit=1)[0].lower()
        for spec in requires(distribution) or []
        if "extra ==" not in spec
    }


def test_the_library_requires_only_its_own_dependencies() -> None:
    assert _requirements("archive-service") == {
        "pluggy",
        "protobuf",
        "pycryptodome",
        "coincurve",
        "pydantic",
        "apsw",  # the store's SQLite driver (bundles SQLite 3.54)
    }


def test_the_command_ships_with_the_application() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "archive-service"]
    assert script.value == "archive_service_cli.cli:main"
    assert script.dist is not None and script.dist.name == "archive-service-cli"
    application = _requirements(script.dist.name)
    assert {"archive-service", "typer", "rich", "numpy", "psutil"} <= application


def _run(command: list[str | Path], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_library_installs_offline_and_runs_a_noop_node_alone(tmp_path: Path) -> None:
    assert any(WHEELHOUSE.glob("setuptools-*.whl")), (
        f"no wheelhouse in {WHEELHOUSE}: run `bash scripts/setup`"
    )
    # Only the wheelhouse counts: no pip configuration, index or find-links of the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    # The library's wheel from this tree (not a stale one), built from a copy holding nothing
    # but the library, so no other distribution of the repository can slip in.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "archive_service",
        source / "archive_service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    dist = tmp_path / "dist"
    offline = ["--no-index", "--find-links", WHEELHOUSE]  # setuptools to build with, too
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *offline]
    _run([*build, "-w", dist, source], env)
    (wheel,) = dist.glob("archive_service-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], env)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", *offline, wheel], env)
    listed = json.loads(_run([python, "-m", "pip", "list", "--format=json"], env))
    names = {p["name"].lower().replace("_", "-") for p in listed}
    assert "archive-service" in names, names
    assert not [n for n in names if n.startswith("archive-service-")], names

    out = _run(
        [python, "-c", NODE_RUN, tmp_path / "node", ",".join(APPLICATION_ONLY)],
        env | {"PYTHONNOUSERSITE": "1"},
    )
    assert out.strip() == "archives 3"
