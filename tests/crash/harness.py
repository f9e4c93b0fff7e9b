"""Crash consistency of the owner's `create`, shared by tests/crash and
benchmarks/crash_campaign.py.

A scenario is a generated store, a config and a backend distribution. `clean()` runs `create`
once to the end on a copy of the store and counts its checkpoints (crashpoint.py); `point(n)`
runs it on a fresh copy, kills it with SIGKILL at checkpoint n, runs the same command again,
and compares what is on disk with the clean run: same archive IDs and windows per backend
(none twice), the same links (a magnet compared by info-hash: its peer hints carry each run's
listen port), the same end date, the announced link equal to the stored one, and no
temporary file left anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from base64 import b64decode
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive_service_torrent.index import decode_torrent_index
from archive_service_torrent.magnet import parse_magnet
from archive_service_torrent.metainfo import parse_metainfo

from archive_service.crypto.signing import verify_archive_link
from archive_service.index import metadata_from_pb
from archive_service.wire import pb

CRASHPOINT = Path(__file__).resolve().parent / "crashpoint.py"
CLI = [sys.executable, "-m", "archive_service_cli"]
LOOPBACK_TORRENT = """
[backend.torrent]
listen_interface = "127.0.0.1"
announce = []
enable_dht = false
loopback_only = true
magnet_peer_hints = true
"""
END = 1_707_868_800  # --to of every run: 2024-02-14, six weeks after the generated start
NOTHING_TO_ARCHIVE = "nothing to archive"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRASH_")}
    env["COLUMNS"] = "200"
    return env


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def generate(db: Path, messages: int = 2000, days: int = 40) -> Path:
    """A generated owner store (`archive-service generate`, three topics)."""
    args = ["generate", "--db", db, "--messages", str(messages), "--days", str(days)]
    generated = cli(*args, "--topics", "3")
    if generated.returncode:
        raise RuntimeError(f"generate failed:\n{generated.stdout}\n{generated.stderr}")
    return db


@contextmanager
def codex_node(data_dir: Path) -> Iterator[str]:
    """A local Codex-compatible node (`archive-service codex-node`) for the scenario; yields
    its API URL once it printed it."""
    proc = subprocess.Popen(
        [*CLI, "codex-node", "--data-dir", str(data_dir), "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        address = None
        for line in proc.stdout:
            lines.append(line)
            if "address=" in line and address is None:
                address = line.split("address=", 1)[1].split()[0]
            if "spr=" in line:
                break
        if address is None:
            raise RuntimeError("codex-node ended early:\n" + "".join(lines))
        # Keep reading what it prints: a full pipe would block the node at its next log line
        # (it logs every request; a campaign fills 64 KiB in minutes).
        threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True).start()
        yield address
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Outcome:
    point: int
    killed: bool  # the child died by SIGKILL at the point (False: it ended before reaching it)
    step: str  # the checkpoint's name (from the clean run's log)
    differences: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.differences


class Scenario:
    def __init__(
        self,
        work: Path,
        backends: Sequence[str],
        *,
        messages: int = 2000,
        days: int = 40,
        codex_url: str | None = None,
        store: Path | None = None,
    ) -> None:
        """`store`: a generated store to copy (scenarios may share one), else one is
        generated with `messages` over `days`."""
        self.work = work
        self.backends = list(backends)
        self.codex_url = codex_url
        self.base = work / "base"
        self.config = work / "config.toml"
        work.mkdir(parents=True, exist_ok=True)
        self.config.write_text(LOOPBACK_TORRENT)
        if store is None:
            store = generate(work / "generated" / "archive-service.sqlite", messages, days)
        self.base.mkdir(exist_ok=True)
        shutil.copyfile(store, self.base / "archive-service.sqlite")
        self.community = _controlled_community(self.base / "archive-service.sqlite")
        self.steps: list[str] = []  # checkpoint names of the clean run, in order
        self.expected: dict[str, Any] = {}

    def create_args(self, data_dir: Path) -> list[str]:
        args = ["create", "-d", str(data_dir), "-c", str(self.config), "--to", str(END)]
        args += ["--backends", ",".join(self.backends)]
        args += ["--set", "owner.distribution=" + json.dumps(self.backends)]
        if self.codex_url:
            args += ["--set", f"backend.codex.api_url={self.codex_url}"]
        return args

    def _copy(self, name: str) -> Path:
        target = self.work / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.base, target)
        return target

    def _create(self, data_dir: Path, crash_at: int = 0, **env: str) -> subprocess.Popen[str]:
        extra = {"CRASH_AT": str(crash_at), **env}
        return subprocess.Popen(
            [sys.executable, str(CRASHPOINT), *self.create_args(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**_env(), **extra},
        )

    def clean(self) -> int:
        """Run `create` to the end; record its state and checkpoints; return their count."""
        data_dir = self._copy("clean")
        log = self.work / "clean.checkpoints"
        log.unlink(missing_ok=True)
        proc = self._create(data_dir, CRASH_LOG=str(log))
        out, err = proc.communicate(timeout=180)
        if proc.returncode:
            raise RuntimeError(f"the clean create failed ({proc.returncode}):\n{out}\n{err}")
        self.steps = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
        self.expected = snapshot(data_dir, self.community, self.backends)
        problems = invariants(self.expected, self.backends)
        if problems:
            raise RuntimeError(f"the clean run breaks the invariants: {problems}")
        shutil.rmtree(data_dir)
        return len(self.steps)

    def first_step(self, name: str) -> int:
        """The number of the clean run's first checkpoint called `name`."""
        return self.steps.index(name) + 1

    def point(self, n: int, *, keep: bool = False) -> Outcome:
        """Kill `create` at checkpoint n, run it again, compare with the clean run."""
        data_dir = self._copy(f"point-{n}")
        proc = self._create(data_dir, crash_at=n)
        _, err = proc.communicate(timeout=180)
        killed = proc.returncode == -signal.SIGKILL
        step = self.steps[n - 1] if 0 < n <= len(self.steps) else "?"
        outcome = Outcome(n, killed, step)
        if not killed and proc.returncode:
            outcome.differences.append(f"the crashing run failed by itself: {err.strip()[-400:]}")
        again = cli(*self.create_args(data_dir))
        if again.returncode and NOTHING_TO_ARCHIVE not in again.stderr:
            outcome.differences.append(
                f"the re-run exited {again.returncode}: {again.stderr.strip()[-400:]}"
            )
        got = snapshot(data_dir, self.community, self.backends)
        outcome.differences += invariants(got, self.backends)
        for key in sorted(set(self.expected) | set(got)):
            if self.expected.get(key) != got.get(key):
                outcome.differences.append(
                    f"{key}: clean {self.expected.get(key)!r}, after the crash {got.get(key)!r}"
                )
        if not keep and outcome.survived:
            shutil.rmtree(data_dir)
        return outcome


def _controlled_community(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        (cid,) = conn.execute("SELECT id FROM communities WHERE private_key IS NOT NULL").fetchone()
    return str(cid)


def link_identity(link: str) -> str:
    """What a link names: a magnet's info-hash (its peer hints change per run), else itself."""
    if link.startswith("magnet:"):
        return "btih:" + parse_magnet(link).info_hash.hex()
    return link


_TMP = re.compile(r"\.tmp$|\.parts$")


def snapshot(data_dir: Path, community: str, backends: Sequence[str]) -> dict[str, Any]:
    """What a run left that a member or the next run depends on (plain data to compare)."""
    state: dict[str, Any] = {}
    with sqlite3.connect(data_dir / "archive-service.sqlite") as conn:
        row = conn.execute(
            "SELECT last_message_archive_end_date FROM communities_archive_info "
            "WHERE community_id = ?",
            (community,),
        ).fetchone()
        state["store.end_date"] = int(row[0] or 0) if row else 0
        links = conn.execute(
            "SELECT backend, link FROM communities_archive_links WHERE community_id = ?",
            (community,),
        ).fetchall()
    stored = {backend: link for backend, link in links if link}
    cid = bytes.fromhex(community[2:])
    for backend in backends:
        state[f"{backend}.stored_link"] = link_identity(stored.get(backend, ""))
        message = data_dir / "outbox" / f"{community}-{backend}.msg"
        announced = verify_archive_link(message.read_bytes()).link if message.exists() else ""
        state[f"{backend}.announced_link"] = link_identity(announced)
        # The stored link is the announced one, exactly (peer hints included).
        state[f"{backend}.stored_is_announced"] = stored.get(backend, "") == announced
    if "torrent" in backends:
        root = data_dir / "torrent" / "archivedata" / community
        torrent = data_dir / "torrent" / "torrents" / f"{community}.torrent"
        entries: list[tuple[str, int, int]] = []
        if (root / "index").exists():
            index = decode_torrent_index((root / "index").read_bytes(), cid, None)
            for aid, entry in index.archives.items():
                window = metadata_from_pb(entry.metadata)
                entries.append((aid, window.from_ts, window.to_ts))
        state["torrent.archives"] = sorted(entries)
        state["torrent.info_hash"] = (
            parse_metainfo(torrent.read_bytes()).info_hash.hex() if torrent.exists() else ""
        )
        data = root / "data"
        state["torrent.data_bytes"] = data.stat().st_size if data.exists() else 0
    if "codex" in backends:
        root = data_dir / "logos-storage" / community  # the backend's name; `codex` its alias
        entries = []
        link = ""
        if (root / "index").exists():
            body = json.loads((root / "index").read_text())
            link = body["link"]
            index = pb.CodexWakuMessageArchiveIndex.FromString(b64decode(body["plain"]))
            for aid, entry in index.archives.items():
                window = metadata_from_pb(entry.metadata)
                entries.append((aid, window.from_ts, window.to_ts))
        state["codex.link"] = link
        state["codex.archives"] = sorted(entries)
        folder = root / "archives"
        state["codex.archive_files"] = sorted(os.listdir(folder)) if folder.is_dir() else []
    state["stray_files"] = sorted(
        str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if _TMP.search(p.name)
    )
    return state


def invariants(state: dict[str, Any], backends: Sequence[str]) -> list[str]:
    """What must hold in any state a run leaves, whatever the clean run did."""
    problems = []
    windows: dict[str, list[tuple[int, int]]] = {}
    for backend in backends:
        archives = state.get(f"{backend}.archives", [])
        windows[backend] = sorted((f, t) for _, f, t in archives)
        if len(set(windows[backend])) != len(windows[backend]):
            problems.append(f"{backend} publishes a window twice")
        if not state[f"{backend}.stored_is_announced"]:
            problems.append(f"{backend}: the stored link is not the announced one")
    if len(backends) > 1 and len({tuple(w) for w in windows.values()}) > 1:
        problems.append(f"the backends hold different histories: {windows}")
    if "codex" in backends:
        listed = sorted(aid for aid, _, _ in state["codex.archives"])
        if state["codex.archive_files"] != listed:
            problems.append("codex keeps archive files its index does not list")
    if state["stray_files"]:
        problems.append(f"stray files: {state['stray_files']}")
    return problems


def pick_points(total: int, count: int, seed: int) -> list[int]:
    """`count` distinct checkpoints in 1..total, spread evenly with a seeded jitter (every
    part of the run is hit, and the same seed picks the same points)."""
    import random

    rng = random.Random(seed)
    if count >= total:
        return list(range(1, total + 1))
    points = set()
    width = total / count
    for i in range(count):
        points.add(1 + min(total - 1, int(i * width + rng.random() * width)))
    return sorted(points)


def elapsed(start: float) -> float:
    return round(time.monotonic() - start, 1)
