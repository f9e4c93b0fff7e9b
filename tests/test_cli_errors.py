"""Every command, every kind of bad input: one line and a non-zero exit, never a traceback
(issue #11 item 7). Real subprocesses of the installed CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "archive_service_cli"]
GOOD_ID = "0x02" + "11" * 32  # well-formed; controlled by no test node
NOT_A_LINK = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An owner data dir with a small history, and files that are not what they claim."""
    root = tmp_path_factory.mktemp("errors")
    subprocess.run(
        [*CLI, "generate", "--db", root / "owner" / "archive-service.sqlite", "--messages", "50"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (root / "garbage.bin").write_bytes(b"\xff\x00 certainly not an artefact" * 3)
    (root / "bad.toml").write_text("this is = = not toml\n")
    (root / "a-directory").mkdir()
    return root


# (command line with {w} for the work dir, a fragment of the expected line, expected exit code)
CASES: list[tuple[str, str, int]] = [
    # fetch
    ("fetch -d {w}/m --message /nonexistent", "cannot read link message /nonexistent", 1),
    ("fetch -d {w}/m --message {w}/a-directory", "cannot read link message", 1),
    ("fetch -d {w}/m -b torrent --join --message {w}/garbage.bin", "not an", 1),
    ("fetch -d {w}/m -b torrent --link magnet:?x", "pass --message FILE", 1),
    ("fetch -d {w}/m --community 0xzz --link x", "0xzz", 1),
    ("fetch -d {w}/m --community 0x02 --join --link x", "community", 1),
    (f"fetch -d {{w}}/m -b torrent --community {GOOD_ID} --link {NOT_A_LINK}", "--join", 1),
    ("fetch -d {w}/m --bogus", "No such option", 2),
    # create
    ("create -d {w}/nowhere", "does not exist", 1),
    ("create -d {w}/owner --to abc", "Invalid value for '--to'", 2),
    ("create -d {w}/owner -b torrent --to 9223372036854775808", "after now plus one", 1),
    ("create -d {w}/owner -b torrent --from -1", "before the first message", 1),
    ("create -d {w}/owner -b torrent --from 5 --to 3", "nothing to archive", 1),
    ("create -d {w}/owner --community 0x1234", "0x1234", 1),
    (f"create -d {{w}}/owner -b torrent --community {GOOD_ID}", "is not in", 1),
    ("create -d {w}/owner -b nosuch", "nosuch not installed", 1),
    ("create -d {w}/owner -b torrent --set owner.interval=abc", "owner.interval", 1),
    ("create -d {w}/owner -b torrent --set owner.interval=-5", "owner.interval", 1),
    ("create -d {w}/owner -b torrent --set noequals", "KEY=VALUE", 1),
    ("create -d {w}/owner -b torrent --set owner.bogus=1", "owner.bogus", 1),
    ("create -d {w}/owner -b torrent --set backend.torrent.listen_port=99999", "listen_port", 1),
    ("create -d {w}/owner -b torrent --set 'owner.distribution=[1'", "owner.distribution", 1),
    ("create -d {w}/owner -c /nonexistent.toml", "does not exist", 1),
    ("create -d {w}/owner -c {w}/bad.toml", "not valid TOML", 1),
    ("create -d {w}/owner -c {w}/a-directory", "config file", 1),
    # seed
    ("seed -d {w}/nowhere", "does not exist", 1),
    ("seed -d {w}/owner -b torrent --set backend.torrent.listen_port=-1", "listen_port", 1),
    # migrate
    ("migrate -d {w}/owner --from torrent --to torrent", "both 'torrent'", 1),
    ("migrate -d {w}/owner -b torrent --from torrent --to nosuch", "nosuch", 1),
    ("migrate -d {w}/nowhere", "does not exist", 1),
    # inspect
    ("inspect {w}/garbage.bin", "not a recognised artefact", 1),
    ("inspect /nonexistent", "not a recognised artefact", 1),
    ("inspect magnet:?xt=urn:btih:zz", "magnet", 1),
    ("inspect -d {w}/nowhere {w}/garbage.bin", "does not exist", 1),
    ("inspect --community 0xbad {w}/garbage.bin", "0xbad", 1),
    ("inspect", "Missing argument", 2),
    # generate
    ("generate --db {w}/g.sqlite --messages -5", "--messages", 1),
    ("generate --db {w}/g.sqlite --days 0", "--days", 1),
    ("generate --db /proc/nope/x.sqlite --messages 5", "/proc/nope", 1),
    ("generate --db {w}/a-directory --messages 5", "a-directory", 1),
    # the others
    ("demo --backends nosuch --messages 10", "nosuch", 1),
    ("plugins extra", "unexpected extra argument", 2),
    ("nosuchcommand", "No such command", 2),
]


@pytest.mark.parametrize(("command", "expected", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_a_non_zero_exit(
    work: Path, command: str, expected: str, code: int
) -> None:
    import shlex

    args = [a.replace("{w}", str(work)) for a in shlex.split(command)]
    result = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, "COLUMNS": "80"},  # narrow: a long line must still be one line
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


def test_compare_refuses_bad_settings_in_one_line(work: Path) -> None:
    """`compare` reports on its console (stdout), as its report does."""
    result = subprocess.run(
        [*CLI, "compare", "--repeat", "0", "--messages", "10", "--out", work / "cmp"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(lines) == 1 and "--repeat" in lines[0]
