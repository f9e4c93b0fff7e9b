"""Member pipeline benchmark (issue #14): a new member's download + import of a one-year
history, per backend, against floors measured in the same run.

- Input: `generate`'s one-year history (its realistic message-size distribution),
  `--messages` of them (default 400,000).
- Ours: the real member of `archive-service compare` (its own spawned process, the lab's fast
  import mode, the embedded importer), from receiving the link: time to the first archive
  imported, time to the full import, member CPU per message, member peak RSS (its own: VmHWM).
- Floors, same run, same bytes:
  - raw transfer by the same engine: a plain libtorrent session downloading the owner's
    `.torrent` from the same kind of seed (torrent); plain HTTP GETs of every archive's CID
    through a member's Codex node from the owner's node (codex);
  - plain SQLite inserting the same rows (`INSERT OR IGNORE` into the store's waku_messages
    table with its index, WAL, synchronous=NORMAL, one transaction), with apsw (the store's
    driver) and with the standard library's sqlite3.
- Targets: full download + import >= 0.5x (raw transfer + SQLite insert), i.e.
  floor/ours >= 0.5; first archive imported <= 2x (index fetch + the newest archive's transfer
  + its insert); member peak RSS independent of the history length (a run over half the
  year with half the messages, i.e. the same archive sizes: ratio of peaks <= 1.25).

    .venv/bin/python benchmarks/member_pipeline.py [--messages 400000] [--backends torrent,codex]

Writes benchmarks/results/member_pipeline.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import apsw
import httpx
from archive_service_cli.compare import History, _community_topics, run_once
from archive_service_cli.synthetic import generate_history
from transfer_common import CONCURRENCY, RESULTS, MiB

from archive_service.archives import build_archives
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.plugins import backend_factories, canonical_backend_name, plugin_manager
from archive_service.store import Store
from archive_service.types import BuiltArchive

WEEK = 7 * 24 * 3600
FLOOR_PROFILE = "unthrottled"  # the Codex simulator profile of both sides (see pipeline())
TARGET_FULL = 0.5  # floor / ours
TARGET_FIRST = 2.0  # ours / floor
TARGET_RSS = 1.25  # peak at full size / peak at half size
_WAKU_TABLE = (
    "CREATE TABLE waku_messages (sig BLOB NOT NULL, timestamp INT NOT NULL, "
    "topic TEXT NOT NULL, payload BLOB NOT NULL, padding BLOB NOT NULL, "
    'hash TEXT PRIMARY KEY NOT NULL, third_party_id TEXT DEFAULT "")'
)
_WAKU_INDEX = "CREATE INDEX waku_messages_timestamp_topic ON waku_messages (timestamp, topic)"
_INSERT = (
    "INSERT OR IGNORE INTO waku_messages "
    "(sig, timestamp, topic, payload, padding, hash, third_party_id) VALUES (?,?,?,?,?,?,?)"
)
Row = tuple[bytes, int, str, bytes, bytes, str, str]


# the history -------------------------------------------------------------------------------
def make_history(workdir: Path, messages: int, days: float = 365) -> History:
    path = workdir / f"history-{messages}.sqlite"
    with Store(path) as store:
        generate_history(store, messages=messages, days=days, topics=5, seed=1)
        (community,) = [c for c in store.list_communities() if c.is_control_node]
        topics = _community_topics(community)
        return History(
            db=path,
            community=community,
            group_keys=tuple(HashRatchet(store).group_keys(community.id)),
            messages=store.count_waku_messages(topics),
            start_ts=store.oldest_message_timestamp(topics),
            end_ts=store.latest_message_timestamp(topics) + 1,
        )


def history_rows(history: History) -> list[Row]:
    with Store(history.db, create=False) as store, store._read() as c:
        return [
            tuple(r)  # type: ignore[misc]
            for r in c.execute(
                "SELECT sig, timestamp, topic, payload, padding, hash, third_party_id "
                "FROM waku_messages ORDER BY timestamp"
            )
        ]


def history_archives(history: History) -> list[BuiltArchive]:
    """The archives the owner publishes: the same windows from the oldest message on."""
    with Store(history.db, create=False) as store:
        return list(
            build_archives(
                store.iter_waku_messages,
                _community_topics(history.community),
                history.start_ts,
                history.end_ts,
                WEEK,
            )
        )


# SQLite floors -------------------------------------------------------------------------------
def _timed_insert(conn: Any, rows: Sequence[Row]) -> float:
    """Seconds to insert `rows` in one transaction through `conn` (apsw's or sqlite3's: the
    same calls), closed after."""
    try:
        for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(_WAKU_TABLE)
        conn.execute(_WAKU_INDEX)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def insert_apsw(path: Path, rows: Sequence[Row]) -> float:
    return _timed_insert(apsw.Connection(str(path)), rows)


def insert_sqlite3(path: Path, rows: Sequence[Row]) -> float:
    return _timed_insert(sqlite3.connect(path, isolation_level=None), rows)


def sqlite_floors(root: Path, rows: list[Row], newest: list[Row]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": len(rows), "newest_archive_rows": len(newest)}
    for name, insert in (("apsw", insert_apsw), ("sqlite3", insert_sqlite3)):
        samples = []
        for i in range(2):  # alternating drivers would share a warm page cache; fresh files
            path = root / f"{name}-{i}.sqlite"
            samples.append(insert(path, rows))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        out[name] = {
            "insert_s": round(min(samples), 3),
            "samples_s": [round(s, 3) for s in samples],
        }
    newest_path = root / "newest.sqlite"
    out["apsw"]["newest_archive_insert_s"] = round(insert_apsw(newest_path, newest), 4)
    out["apsw_speedup"] = round(out["sqlite3"]["insert_s"] / out["apsw"]["insert_s"], 2)
    out["sqlite_versions"] = {"apsw": apsw.sqlite_lib_version(), "sqlite3": sqlite3.sqlite_version}
    return out


# raw transfers by the same engines -----------------------------------------------------------
async def raw_torrent(root: Path, archives: list[BuiltArchive]) -> dict[str, Any]:
    from torrent_transfer import COMMUNITY, make_backend, raw_transfer

    owner, store = make_backend(root, "raw-owner")
    await owner.start()
    try:
        publication = await owner.open_publication(COMMUNITY, False)
        for archive in archives:
            await publication.add(archive)
        result = await publication.commit()
        assert result.link is not None
        await owner.seed(COMMUNITY, result.link)
        paths = owner.paths(COMMUNITY)
        folder = paths.data.stat().st_size + paths.index.stat().st_size
        total = await raw_transfer(root, paths.torrent, owner.listen_port)
    finally:
        await owner.stop()
        store.close()
    newest = archives[-1]
    return {
        "floor": "plain libtorrent session downloading the owner's .torrent, same settings",
        "bytes": folder,
        "transfer_s": round(total, 3),
        # One archive alone is not a torrent of its own: its share of the measured rate.
        "newest_archive_s": round(total * len(newest.data) / folder, 4),
        "newest_archive_how": "share of the whole transfer by bytes",
    }


async def raw_codex(root: Path, archives: list[BuiltArchive]) -> dict[str, Any]:
    from codex_transfer import COMMUNITY, make_backend, start_node_pair

    owner_node, member_node = await start_node_pair(root, "raw-")
    http = httpx.AsyncClient(timeout=600, trust_env=False)
    try:
        owner, store = make_backend(root, "raw-owner", owner_node.api_url)
        await owner.start()
        publication = await owner.open_publication(COMMUNITY, False)
        for archive in archives:
            await publication.add(archive)
        await publication.commit()
        entries = await owner.read_index(COMMUNITY)
        cids = [e.locator["cid"] for e in entries]
        newest_cid = max(entries, key=lambda e: e.metadata.from_ts).locator["cid"]
        await owner.stop()
        store.close()

        async def get(cids: list[str]) -> tuple[float, int]:
            sem = asyncio.Semaphore(CONCURRENCY)
            url = member_node.api_url

            async def one(cid: str) -> int:
                n = 0
                async with sem, http.stream("GET", f"{url}/data/{cid}/network/stream") as r:
                    r.raise_for_status()
                    async for chunk in r.aiter_raw():
                        n += len(chunk)
                return n

            started = time.perf_counter()
            got = sum(await asyncio.gather(*(one(c) for c in cids)))
            return time.perf_counter() - started, got

        newest_s, _ = await get([newest_cid])
        for cid in cids:
            (await http.delete(f"{member_node.api_url}/data/{cid}")).raise_for_status()
        total_s, nbytes = await get(cids)
    finally:
        await http.aclose()
        owner_node.terminate()
        member_node.terminate()
    return {
        "floor": "plain HTTP GET /data/{cid}/network/stream of every archive through the "
        f"member's node from the owner's ({CONCURRENCY} at once)",
        "bytes": nbytes,
        "transfer_s": round(total_s, 3),
        "newest_archive_s": round(newest_s, 4),
        "newest_archive_how": "GET of the newest archive's CID alone, first",
    }


# ours ----------------------------------------------------------------------------------------
def pipeline(backend: str, history: History, workdir: Path, timeout: float) -> dict[str, Any]:
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The simulator's own speed, as the raw floor's nodes run (start_node_pair): compare's
    # default profile throttles the nodes to a real node's ~9 MiB/s, which would measure the
    # profile, not the pipeline against the same engine's raw transfer.
    record = run_once(
        backend,
        0,
        history,
        workdir,
        logs,
        timeout,
        lambda _n, _e: None,
        codex_profile=FLOOR_PROFILE,
    )
    if record["messages"]["member_digest"] != record["messages"]["owner_digest"]:
        raise SystemExit(f"{backend}: the member did not end with the owner's messages")
    times, member = record["times"], record["member"]
    return {
        "archives": record["archives"],
        "bytes_transferred": record["bytes"]["transferred"],
        "index_s": round(times["index"], 4),
        "download_s": round(times["download"], 3),
        "first_import_s": round(times["first_import"], 3),
        "full_import_s": round(times["full_import"], 3),
        "member_cpu_s": round(member["cpu"], 2),
        "member_cpu_us_per_message": round(member["cpu"] / history.messages * 1e6, 1),
        "member_peak_rss": member["peak_rss"],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="member-pipeline-"))
    say: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731
    try:
        say(f"generating {args.messages:,} messages over one year")
        history = make_history(root, args.messages)
        rows = history_rows(history)
        archives = history_archives(history)
        newest = archives[-1].metadata
        newest_rows = [r for r in rows if newest.from_ts <= r[1] < newest.to_ts]
        archive_bytes = sum(len(a.data) for a in archives)
        say(f"{len(archives)} archives, {archive_bytes / MiB:.1f} MiB, {len(rows):,} rows")
        sqlite = sqlite_floors(root, rows, newest_rows)
        del rows
        say(
            f"SQLite insert: apsw {sqlite['apsw']['insert_s']} s, "
            f"sqlite3 {sqlite['sqlite3']['insert_s']} s"
        )
        # Half the history length at the same density (half the days, half the messages):
        # archives of the same size, half as many of them.
        half = make_history(root, args.messages // 2, 365 / 2) if args.rss else None
        backends: dict[str, Any] = {}
        for backend in args.backends:
            # Each backend starts with the disk written back: the previous backend's run
            # leaves hundreds of MiB dirty, and the first archive's commit (an fsync) would
            # wait for them (0.07-0.08 s instead of 0.04 s for the second backend).
            os.sync()
            raw = await (raw_torrent if backend == "torrent" else raw_codex)(root, archives)
            say(f"{backend} raw transfer {raw['transfer_s']} s")
            ours = pipeline(backend, history, root / f"run-{backend}", args.timeout)
            say(f"{backend} ours: {ours}")
            floor_full = raw["transfer_s"] + sqlite["apsw"]["insert_s"]
            floor_first = (
                ours["index_s"]
                + raw["newest_archive_s"]
                + sqlite["apsw"]["newest_archive_insert_s"]
            )
            entry: dict[str, Any] = {
                "raw": raw,
                "ours": ours,
                "full": {
                    "floor_s": round(floor_full, 3),
                    "ours_s": ours["full_import_s"],
                    "ratio_floor_over_ours": round(floor_full / ours["full_import_s"], 3),
                    "target": f">= {TARGET_FULL}",
                },
                "first": {
                    "floor_s": round(floor_first, 3),
                    "ours_s": ours["first_import_s"],
                    "ratio_ours_over_floor": round(ours["first_import_s"] / floor_first, 3),
                    "target": f"<= {TARGET_FIRST}",
                },
            }
            if half is not None:
                small = pipeline(backend, half, root / f"half-{backend}", args.timeout)
                entry["half"] = {"messages": half.messages, "days": 365 / 2, **small}
                entry["rss"] = {
                    "peak_full": ours["member_peak_rss"],
                    "peak_half": small["member_peak_rss"],
                    "ratio_full_over_half": round(
                        ours["member_peak_rss"] / small["member_peak_rss"], 3
                    ),
                    "target": f"<= {TARGET_RSS}",
                }
            backends[backend] = entry
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "member_pipeline",
        "setup": {
            "messages": history.messages,
            "days": 365,
            "archives": len(archives),
            "archive_bytes": archive_bytes,
            "import": "lab fast mode, embedded importer (one transaction per archive)",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in load_at_start],
        },
        "sqlite": sqlite,
        "backends": backends,
    }


def passed(result: dict[str, Any]) -> dict[str, bool]:
    out = {}
    for name, b in result["backends"].items():
        out[f"{name} full"] = b["full"]["ratio_floor_over_ours"] >= TARGET_FULL
        out[f"{name} first"] = b["first"]["ratio_ours_over_floor"] <= TARGET_FIRST
        if "rss" in b:
            out[f"{name} rss"] = b["rss"]["ratio_full_over_half"] <= TARGET_RSS
    return out


def markdown(result: dict[str, Any]) -> str:
    s, q = result["setup"], result["sqlite"]
    lines = [
        "# Member pipeline benchmark",
        "",
        f"{s['messages']:,} messages over {s['days']} days (`generate`'s size distribution), "
        f"{s['archives']} archives, {s['archive_bytes'] / MiB:.1f} MiB; {s['import']}; "
        f"{s['machine']} (load average {s['load_average_at_start'][0]} at start), "
        f"Python {s['python']}.",
        "",
        "| backend | first archive imported | floor (index + newest transfer + insert) "
        "| ours/floor (≤ 2) | full import | floor (raw transfer + insert) | floor/ours (≥ 0.5) "
        "| member CPU/message | member peak RSS (half the history) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, b in result["backends"].items():
        o = b["ours"]
        rss = f"{o['member_peak_rss'] / MiB:.0f} MiB"
        if "half" in b:
            rss += f" ({b['half']['member_peak_rss'] / MiB:.0f} MiB)"
        lines.append(
            f"| {name} | {o['first_import_s']} s | {b['first']['floor_s']} s "
            f"| {b['first']['ratio_ours_over_floor']} | {o['full_import_s']} s "
            f"| {b['full']['floor_s']} s | {b['full']['ratio_floor_over_ours']} "
            f"| {o['member_cpu_us_per_message']} µs | {rss} |"
        )
    lines += [
        "",
        f"SQLite alone, the same {q['rows']:,} rows in one transaction (WAL, synchronous=NORMAL,"
        f" the store's table and index): apsw {q['apsw']['insert_s']} s (SQLite "
        f"{q['sqlite_versions']['apsw']}), standard sqlite3 {q['sqlite3']['insert_s']} s "
        f"(SQLite {q['sqlite_versions']['sqlite3']}): apsw {q['apsw_speedup']}x.",
        "",
        "Raw transfers: "
        + "; ".join(
            f"{n} {b['raw']['transfer_s']} s for {b['raw']['bytes'] / MiB:.1f} MiB "
            f"({b['raw']['floor']})"
            for n, b in result["backends"].items()
        )
        + ".",
        "",
        "Reproduce: `.venv/bin/python benchmarks/member_pipeline.py` (`--messages` for a "
        "quick run).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=400_000)
    parser.add_argument("--backends", default="torrent,codex")
    parser.add_argument("--no-rss", dest="rss", action="store_false", help="skip the half run")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    factories = backend_factories(plugin_manager())  # `codex` names logos-storage too
    args.backends = [
        canonical_backend_name(factories, b.strip()) for b in args.backends.split(",") if b.strip()
    ]
    result = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "member_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "member_pipeline.md").write_text(markdown(result))
    print(markdown(result))
    verdicts = passed(result)
    print(" ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in verdicts.items()))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
