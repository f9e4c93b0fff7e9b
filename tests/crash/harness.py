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

import cli_process
from archive_service_torrent.index import decode_torrent_index
from archive_service_torrent.magnet import parse_magnet
from archive_service_torrent.metainfo import parse_metainfo
from cli_process import CLI, LOOPBACK_TORRENT

from archive_service.crypto.signing import verify_archive_link
from archive_service.index import metadata_from_pb
from archive_service.wire import pb

CRASHPOINT = Path(__file__).resolve().parent / "crashpoint.py"
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


# The member: download and import killed at a checkpoint, then resumed as a user would. ------

MEMBER_CHILD = Path(__file__).with_name("member_fetch_child.py")
SAME_LINK = "link refused: same-link"  # the same command after a finished fetch
IMPORT_STEPS = ("store.import_archive", "store.set_archive_imported", "event imported")


class Background(cli_process.Background):
    """A long-running CLI command (`seed`, `codex-node`) of a scenario: read until its ready
    line, then drained; the scenario's environment."""

    def __init__(self, *args: str | Path, ready: str) -> None:
        super().__init__(*args, ready=ready, env=_env(), drain=True)


def message_hashes(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {h for (h,) in conn.execute("SELECT hash FROM waku_messages")}


def member_child(mode: str, member: Path, config: Path, backend: str, message: Path,
                 sets: Sequence[str], **env: str) -> subprocess.Popen[str]:  # fmt: skip
    """member_fetch_child.py: `fetch` (the CLI's `fetch --join --yes --message`) or `start`
    (a bare node start); `env`: CRASH_AT, CRASH_LOG."""
    return subprocess.Popen(
        [
            sys.executable,
            str(MEMBER_CHILD),
            mode,
            str(member),
            str(config),
            backend,
            str(message),
            *sets,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_env(), **env},
    )


def fetch_killed_at_marker(member: Path, config: Path, backend: str, message: Path,
                           marker: int, sets: Sequence[str]) -> list[str]:  # fmt: skip
    """The member's fetch, killed by SIGKILL right after its `marker`-th marker line."""
    with member_child("fetch", member, config, backend, message, sets) as child:
        assert child.stdout is not None
        lines: list[str] = []
        while len(lines) < marker:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        if len(lines) != marker:
            raise AssertionError(f"fetch ended before marker {marker}: {lines}")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    return lines


class MemberScenario:
    """An owner (a generated store, `create` through one backend, then `seed` for BitTorrent;
    for Codex two local nodes, the owner's and the member's) and a member that fetches its
    history with `fetch --join --yes --message M`.

    `clean()` runs the member's fetch to the end and records its checkpoints (crashpoint.py:
    renames, fsyncs, archive records, imports, each downloaded/imported event). `point(n,
    restart)` kills a fresh member at checkpoint n, checks the state it left (an archive marked
    imported has every message of its window stored), resumes it the way a user would
    (`restart="fetch"`: the same command again; `"start"`: a bare node start), then compares
    with the clean run: the owner's message set, none twice, the same archives all imported
    and fully stored, no temporary file left. Use as a context manager (it stops the daemons).
    """

    def __init__(self, work: Path, backend: str, *, messages: int = 3000, days: int = 70) -> None:
        self.work = work
        self.backend = backend
        self.config = work / "config.toml"
        self.owner = work / "owner"
        self.daemons: list[Background] = []
        work.mkdir(parents=True, exist_ok=True)
        self.config.write_text(LOOPBACK_TORRENT)
        generate(self.owner / "archive-service.sqlite", messages, days)
        self.sets: list[str] = []
        self.steps: list[str] = []
        self.archives: set[str] = set()

    def __enter__(self) -> MemberScenario:
        try:
            self._start_owner()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()

    def _start_owner(self) -> None:
        owner_sets: list[str] = []
        if self.backend == "codex":
            node_a = Background("codex-node", "--data-dir", self.work / "codex-a",
                                "--api-port", "0", ready="spr=")  # fmt: skip
            self.daemons.append(node_a)
            node_b = Background("codex-node", "--data-dir", self.work / "codex-b",
                                "--api-port", "0", "--bootstrap-node", node_a.value("spr="),
                                ready="spr=")  # fmt: skip
            self.daemons.append(node_b)
            owner_sets = [f"backend.codex.api_url={node_a.value('address=')}"]
            self.sets = [f"backend.codex.api_url={node_b.value('address=')}"]
        set_args = [a for s in owner_sets for a in ("--set", s)]
        created = cli("create", "-d", self.owner, "-c", self.config,
                      "--backends", self.backend, *set_args)  # fmt: skip
        if created.returncode:
            raise RuntimeError(f"the owner's create failed:\n{created.stdout}\n{created.stderr}")
        (self.message,) = (self.owner / "outbox").glob("*.msg")  # one backend, by its name
        if self.backend == "torrent":
            self.daemons.append(Background("seed", "-d", self.owner, "-c", self.config,
                                           "--backends", self.backend,
                                           ready="links announced again"))  # fmt: skip
        with sqlite3.connect(self.owner / "archive-service.sqlite") as conn:
            self.owner_messages = dict(conn.execute("SELECT hash, timestamp FROM waku_messages"))

    def fetch_args(self, member: Path) -> list[str]:
        """The user's command: `fetch --join --yes --message M`."""
        args = ["fetch", "-d", str(member), "-c", str(self.config), "--join", "--yes"]
        args += ["--message", str(self.message), "--backends", self.backend]
        return args + [a for s in self.sets for a in ("--set", s)]

    def clean(self) -> int:
        """Fetch to the end; record the checkpoints and archives; return their count."""
        member = self.work / "member-clean"
        shutil.rmtree(member, ignore_errors=True)
        log = self.work / "member-clean.checkpoints"
        log.unlink(missing_ok=True)
        child = member_child("fetch", member, self.config, self.backend, self.message,
                             self.sets, CRASH_LOG=str(log))  # fmt: skip
        out, err = child.communicate(timeout=300)
        if child.returncode:
            raise RuntimeError(f"the clean fetch failed ({child.returncode}):\n{out}\n{err}")
        self.steps = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
        self.archives = {aid for aid, _ in self._archive_marks(member)}
        problems = self.member_state(member, finished=True)
        if problems:
            raise RuntimeError(f"the clean fetch breaks the invariants: {problems}")
        shutil.rmtree(member)
        return len(self.steps)

    def points_in(self, phase: str) -> list[int]:
        """The clean run's checkpoints of one phase: `import` (an archive's messages stored
        and marked, its event) or `download` (everything else)."""
        chosen = []
        for n, step in enumerate(self.steps, 1):
            in_import = any(name in step for name in IMPORT_STEPS)
            if in_import == (phase == "import"):
                chosen.append(n)
        return chosen

    def _accepted(self, member: Path) -> bool:
        """Whether the member durably accepted the link: its clock or the link stored, or an
        archive recorded."""
        db = member / "archive-service.sqlite"
        if not db.exists():
            return False
        with sqlite3.connect(db) as conn:
            (links,) = conn.execute(
                "SELECT COUNT(*) FROM communities_archive_links WHERE clock > 0 OR link != ''"
            ).fetchone()
            (archives,) = conn.execute(
                "SELECT COUNT(*) FROM community_message_archive_hashes"
            ).fetchone()
        return bool(links or archives)

    def _archive_marks(self, member: Path) -> list[tuple[str, bool]]:
        with sqlite3.connect(member / "archive-service.sqlite") as conn:
            rows = conn.execute("SELECT hash, imported FROM community_message_archive_hashes")
            return [(aid, bool(imported)) for aid, imported in rows]

    def member_state(self, member: Path, *, finished: bool) -> list[str]:
        """What must hold in a member's data dir: after any crash, an archive marked imported
        has every message of its window stored; once finished, the clean run's state."""
        problems = []
        db = member / "archive-service.sqlite"
        if not db.exists():
            return [] if not finished else ["no member store"]
        with sqlite3.connect(db) as conn:
            windows = conn.execute(
                "SELECT hash, from_ts, to_ts FROM community_message_archive_hashes WHERE imported"
            ).fetchall()
            (rows,) = conn.execute("SELECT COUNT(*) FROM waku_messages").fetchone()
        stored = message_hashes(db)
        for aid, from_ts, to_ts in windows:
            window = {h for h, ts in self.owner_messages.items() if from_ts <= ts < to_ts}
            missing = len(window - stored)
            if not window or missing:
                problems.append(f"{aid} marked imported, {missing} of {len(window)} missing")
        if stored - set(self.owner_messages):
            problems.append(f"{len(stored - set(self.owner_messages))} messages not the owner's")
        if finished:
            if stored != set(self.owner_messages):
                problems.append(f"{len(stored)} of {len(self.owner_messages)} messages stored")
            if rows != len(self.owner_messages):
                problems.append(f"{rows} message rows for {len(self.owner_messages)} messages")
            marks = self._archive_marks(member)
            if self.archives and {aid for aid, _ in marks} != self.archives:
                problems.append("the archive IDs differ from the clean run's")
            not_imported = [aid for aid, imported in marks if not imported]
            if not_imported:
                problems.append(f"{len(not_imported)} archive(s) downloaded, not imported")
        stray = sorted(str(p.relative_to(member)) for p in member.rglob("*") if _TMP.search(p.name))
        if stray and finished:
            problems.append(f"stray files: {stray}")
        return problems

    def point(self, n: int, restart: str, *, keep: bool = False) -> Outcome:
        """Kill a fresh member's fetch at checkpoint n, resume it (`restart`: "fetch" or
        "start"), compare with the clean run."""
        member = self.work / f"member-{n}"
        shutil.rmtree(member, ignore_errors=True)
        child = member_child("fetch", member, self.config, self.backend, self.message,
                             self.sets, CRASH_AT=str(n))  # fmt: skip
        _, err = child.communicate(timeout=300)
        killed = child.returncode == -signal.SIGKILL
        step = self.steps[n - 1] if 0 < n <= len(self.steps) else "?"
        if restart == "start" and not self._accepted(member):
            # Killed before the member accepted the link (no store, or no link clock and no
            # archive recorded): a node start has nothing to resume; the user's way back is
            # the same command.
            restart = "fetch"
            step += " (nothing accepted yet)"
        outcome = Outcome(n, killed, f"{step} (then {restart})")
        # Killed after the last durable step: the member is already what the clean run left,
        # and the same command answers as it does after a clean run (the link is refused as
        # the one already fetched).
        complete = not self.member_state(member, finished=True)
        if not killed and child.returncode:
            outcome.differences.append(f"the crashing fetch failed by itself: {err[-400:]}")
        outcome.differences += [
            f"at the crash: {p}" for p in self.member_state(member, finished=False)
        ]
        if restart == "fetch":
            again = cli(*self.fetch_args(member), timeout=300)
            answered_as_clean = complete and again.returncode == 2 and SAME_LINK in again.stderr
            finished = again.returncode == 0 and "0 archive(s) still to import" in again.stdout
            if not (finished or answered_as_clean):
                outcome.differences.append(
                    f"the same fetch again exited {again.returncode}: "
                    f"{(again.stdout + again.stderr).strip()[-400:]}"
                )
        else:
            start = member_child("start", member, self.config, self.backend, self.message,
                                 self.sets)  # fmt: skip
            out, err = start.communicate(timeout=300)
            if start.returncode or "done" not in out:
                outcome.differences.append(
                    f"the node start exited {start.returncode}: {err[-400:]}"
                )
        outcome.differences += self.member_state(member, finished=True)
        if not keep and outcome.survived:
            shutil.rmtree(member)
        return outcome
