"""The CLI as a user drives it: real subprocesses, real nodes on 127.0.0.1 (issue #6)."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import LOOPBACK_TORRENT, Background, run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.stop()


def codex_node(background: list[Background], data_dir: Path, *bootstrap: str) -> Background:
    args: list[str | Path] = ["codex-node", "--data-dir", data_dir, "--api-port", "0"]
    for spr in bootstrap:
        args += ["--bootstrap-node", spr]
    node = Background(*args, ready="spr=")
    background.append(node)
    return node


def message_hashes(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {h for (h,) in conn.execute("SELECT hash FROM waku_messages")}


def test_demo_verifies_the_member_has_the_owners_messages() -> None:
    result = run("demo", "--messages", "3000", "--days", "21")
    assert "identical" in result.stdout and "yes" in result.stdout
    assert "torrent" in result.stdout and "logos-storage" in result.stdout
    assert "owner messages: 3,000" in result.stdout


def test_owner_and_member_through_the_cli(tmp_path: Path, background: list[Background]) -> None:
    owner, member = tmp_path / "owner", tmp_path / "member"
    config = tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)
    node_a = codex_node(background, tmp_path / "codex-a")
    node_b = codex_node(background, tmp_path / "codex-b", node_a.value("spr="))
    url_a, url_b = node_a.value("address="), node_b.value("address=")

    run(
        "generate",
        "--db",
        owner / "archive-service.sqlite",
        "--messages",
        "2000",
        "--days",
        "21",
        "--topics",
        "3",
    )
    # The owner's commands: both backends, Codex through node A.
    owner_args: list[str | Path] = ["-d", owner, "-c", config, "--backends", "torrent,codex"]
    owner_args += ["--set", f"backend.codex.api_url={url_a}"]
    created = run(
        "create", *owner_args, "--set", 'owner.distribution=["torrent"]', "--to", "1705881600"
    )
    assert "magnet:?xt=urn:btih:" in created.stdout
    (torrent_msg,) = (owner / "outbox").glob("*-torrent.msg")

    shown = json.loads(run("inspect", torrent_msg, "--json").stdout)
    assert shown["kind"] == "archive-link-message" and shown["valid_signature"]
    community = shown["community_id"]
    (index,) = (owner / "torrent" / "archivedata").glob("0x*/index")
    index_json = json.loads(run("inspect", index, "--json").stdout)
    assert index_json["kind"] == "torrent-index" and len(index_json["archives"]) == 3

    migrated = run("migrate", *owner_args, "--json", tmp_path / "map.json")
    mapping = json.loads((tmp_path / "map.json").read_text())
    assert len(mapping["mapping"]) == 3 and mapping["link"].startswith("z")
    assert "migrated 3" in migrated.stdout
    # `codex` on the command line is the old name of the backend; it writes and shows the new.
    (codex_msg,) = (owner / "outbox").glob("*-logos-storage.msg")
    assert "logos-storage" in migrated.stdout

    # The owner keeps seeding BitTorrent while the member fetches through Codex node B.
    seeder = Background(
        "seed", "-d", owner, "-c", config, "--backends", "torrent", ready="links announced again"
    )
    background.append(seeder)
    # The member's fetches: Codex through node B.
    member_codex: list[str | Path] = ["-d", member, "--backends", "codex"]
    member_codex += ["--set", f"backend.codex.api_url={url_b}"]
    fetched = run(
        "fetch", *member_codex, "--join", "--community", community, "--message", codex_msg
    )
    assert "imported 2,000 new messages" in fetched.stdout
    assert message_hashes(member / "archive-service.sqlite") == message_hashes(
        owner / "archive-service.sqlite"
    )

    # The same link again is refused, saying why.
    again = run("fetch", *member_codex, "--message", codex_msg, check=False)
    assert again.returncode == 2 and "same-link" in again.stderr

    # A second member takes the BitTorrent link from the seeding owner.
    other = tmp_path / "member2"
    fetched = run(
        "fetch",
        "-d",
        other,
        "-c",
        config,
        "--join",
        "--yes",
        "--message",
        torrent_msg,
        "--backends",
        "torrent",
    )
    assert "imported 2,000 new messages" in fetched.stdout
    assert seeder.stop() == 0


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) <= 2, result.stderr  # one message (rich may wrap it once)
    assert "Traceback" not in result.stderr
    return " ".join(lines)


def test_errors_are_one_clear_line(tmp_path: Path, background: list[Background]) -> None:
    missing = run("create", "-d", tmp_path / "nowhere", check=False)
    assert "does not exist" in one_line_error(missing)

    bad_message = tmp_path / "bad.msg"
    bad_message.write_bytes(b"\x01\x02 not a link message")
    refused = run("fetch", "-d", tmp_path / "m", "--join", "--message", bad_message, check=False)
    assert refused.returncode == 1 and "error" in one_line_error(refused)

    bad_link = run(
        "fetch",
        "-d",
        tmp_path / "m",
        "--join",
        "--community",
        "0x" + "02" * 33,
        "--link",
        "not-a-link",
        "--backends",
        "torrent",
        check=False,
    )
    assert bad_link.returncode == 2 and "no-backend-for-link" in bad_link.stderr

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run("generate", "--db", tmp_path / "o" / "archive-service.sqlite", "--messages", "100")
    down = run(
        "create",
        "-d",
        tmp_path / "o",
        "--backends",
        "codex",
        "--set",
        'owner.distribution=["codex"]',
        "--set",
        f"backend.codex.api_url=http://127.0.0.1:{port}/api/codex/v1",
        check=False,
    )
    assert "127.0.0.1" in one_line_error(down)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        node = run(
            "codex-node", "--data-dir", tmp_path / "cn", "--api-port", str(taken), check=False
        )
        assert "in use" in one_line_error(node)
        unknown = run("create", "-d", tmp_path / "o", "--set", "owner.bogus=1", check=False)
        assert "owner.bogus" in one_line_error(unknown)
