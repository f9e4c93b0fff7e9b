"""Issue #11 item 1: a member killed (kill -9) during download or import finishes with the
same command, or with a bare node start. Real CLI subprocesses on 127.0.0.1 (torrent: the
owner's `seed` daemon; codex: two local Codex nodes); the kill point is a seeded marker line
of the first fetch, and the re-run of `fetch --join --yes --message M` (or the node start) must
end with the owner's message set."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    LOOPBACK_TORRENT,
    Background,
    cli,
    fetch_killed_at_marker,
    member_child,
    message_hashes,
)

pytestmark = pytest.mark.timeout(600)

MESSAGES, DAYS = 30_000, 70  # 10 weekly archives


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = cli(*args, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.parametrize("backend", ["torrent", "codex"])
def test_a_member_killed_mid_fetch_finishes_with_the_same_command(
    tmp_path: Path, background: list[Background], backend: str
) -> None:
    owner, config = tmp_path / "owner", tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)
    run("generate", "--db", owner / "archive-service.sqlite", "--messages", MESSAGES,
        "--days", DAYS, "--topics", "3")  # fmt: skip
    owner_sets: list[str] = []
    member_sets: list[str] = []
    if backend == "codex":
        node_a = Background("codex-node", "--data-dir", tmp_path / "codex-a", "--api-port", "0",
                            ready="spr=")  # fmt: skip
        background.append(node_a)
        node_b = Background("codex-node", "--data-dir", tmp_path / "codex-b", "--api-port", "0",
                            "--bootstrap-node", node_a.value("spr="), ready="spr=")  # fmt: skip
        background.append(node_b)
        owner_sets = [f"backend.codex.api_url={node_a.value('address=')}"]
        member_sets = [f"backend.codex.api_url={node_b.value('address=')}"]
    set_args = [a for s in owner_sets for a in ("--set", s)]
    run("create", "-d", owner, "-c", config, "--backends", backend, *set_args)
    # `--backends codex` is the old name; the outbox file carries the backend's name.
    outbox_name = "logos-storage" if backend == "codex" else backend
    (message,) = (owner / "outbox").glob(f"*-{outbox_name}.msg")
    if backend == "torrent":
        background.append(Background("seed", "-d", owner, "-c", config, "--backends", backend,
                                     ready="links announced again"))  # fmt: skip
    owner_hashes = message_hashes(owner / "archive-service.sqlite")
    assert len(owner_hashes) == MESSAGES

    # Markers: 10 `downloaded` and 10 `imported`, interleaved as the pipeline runs; the
    # seeded point lands in the download or in the import.
    # Rounds: the same command again (twice, other points), then a bare node start.
    marker = random.Random(f"resume-{backend}").randrange(2, 16)
    member_set_args = [a for s in member_sets for a in ("--set", s)]
    for round_ in range(3):
        member = tmp_path / f"member-{round_}"
        lines = fetch_killed_at_marker(
            member, config, backend, message, marker + 3 * round_, member_sets
        )
        stored = message_hashes(member / "archive-service.sqlite")
        assert stored < owner_hashes, lines  # killed with work left
        if round_ < 2:
            again = run("fetch", "-d", member, "-c", config, "--join", "--yes",
                        "--message", message, "--backends", backend,
                        *member_set_args)  # fmt: skip
            assert "0 archive(s) still to import" in again.stdout, again.stdout
        else:
            start = member_child("start", member, config, backend, message, member_sets)
            out, err = start.communicate(timeout=300)
            assert start.returncode == 0 and "done" in out, err
        assert message_hashes(member / "archive-service.sqlite") == owner_hashes
