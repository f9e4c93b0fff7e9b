"""BitTorrent benchmark: each measurement against its floor, taken in the same run.

- Download + import: a fresh member's `download_history_archives` of a ≥ 200 MB history from
  the owner's seed (magnet, metadata, index, every archive with its verification and recorded
  ID) with each archive imported as it completes (`load_archive_messages` +
  `Store.save_waku_messages` into the member's SQLite store), until the last is imported,
  vs the raw libtorrent transfer of the same folder: a plain session (same settings) adding
  the owner's `.torrent` and downloading everything, from the same seed. Target ≥ 0.5×.
- Incremental create: a one-year history is created week by week (read from the SQLite store,
  encoded, published by the owner's torrent backend); the create of week 52 against week 1.
  Week N+1 hashes only its own bytes and the index (status-go re-hashes all history).
  Target ≤ 1.5×.

All sessions are on 127.0.0.1 (loopback-only filter, no DHT/LSD/UPnP/NAT-PMP, no trackers),
in this process, as a member's node would run them.

    .venv/bin/python benchmarks/torrent_transfer.py [--mib 216] [--repeat 3] [--year-mib 4]

Writes benchmarks/results/torrent_transfer.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libtorrent as lt
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.metainfo import hash_pieces
from archive_service_torrent.session import TorrentSession
from archive_service_torrent.settings import TorrentSettings
from transfer_common import (
    CONCURRENCY,
    PAYLOAD,
    T0,
    TOPICS,
    WEEK,
    ImportAsDownloaded,
    MiB,
    arguments,
    backend_context,
    machine,
    publish,
    rates,
    synthetic_history,
    synthetic_messages,
    write_results,
)

from archive_service.archives import build_archives
from archive_service.asyncutil import iterate_in_thread
from archive_service.events import ArchiveEvent
from archive_service.store import Store
from archive_service.types import StoredMessage

COMMUNITY = bytes.fromhex("02" + "c4" * 32)


def make_backend(
    root: Path,
    name: str,
    emit: Callable[[ArchiveEvent], None] = lambda event: None,
    store: Store | None = None,
) -> tuple[TorrentBackend, Store]:
    store = store or Store(root / name / "db.sqlite", cache_mb=64)
    context = backend_context(
        root / name / "torrent", store, emit, node_public_key_hex="0x04" + "ab" * 64
    )
    return TorrentBackend(context, TorrentSettings.loopback()), store


# download + import vs raw transfer ------------------------------------------------------------
async def raw_transfer(root: Path, torrent: Path, seed_port: int) -> float:
    """A plain libtorrent session downloads the whole folder from the owner's seed. It is
    woken by libtorrent's alerts like the backend (TorrentSession), and does nothing else."""
    save = root / f"raw-{time.monotonic_ns()}"
    save.mkdir()
    session = await TorrentSession.open(TorrentSettings.loopback())
    try:
        ti = lt.torrent_info(str(torrent))
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = str(save)
        atp.flags = lt.torrent_flags.default_flags & ~(
            lt.torrent_flags.auto_managed | lt.torrent_flags.paused
        )
        started = time.perf_counter()
        watch = session.add(atp, bytes.fromhex(str(ti.info_hashes().v1)))
        watch.handle.connect_peer(("127.0.0.1", seed_port))
        await watch.wait_until(
            lambda: watch.status().is_seeding, cancel=None, timeout=600, what="raw transfer"
        )
        elapsed = time.perf_counter() - started
    finally:
        await session.close()
        shutil.rmtree(save, ignore_errors=True)
    return elapsed


async def member_run(root: Path, i: int, link: str, expected: int) -> tuple[float, float, float]:
    """A fresh member (directory, database): download, importing each archive as it completes.
    Returns (download + import seconds, download seconds, import-alone seconds), the last one
    re-importing the downloaded archives into another fresh database (information: the part
    of the total that is SQLite and decoding, not transfer)."""
    importer = ImportAsDownloaded()
    member, store = make_backend(root, f"member-{i}", importer.emit)
    await member.start()
    info, total_s, downloaded = await importer.run(member, store, COMMUNITY, link)
    assert info.total_downloaded == info.total_archives and not info.failed_archive_ids, info
    assert store.count_waku_messages() == expected

    again = Store(root / f"member-{i}" / "again.sqlite", cache_mb=64)
    started = time.perf_counter()
    for entry in await member.read_index(COMMUNITY):
        got = await member.load_archive_messages(COMMUNITY, link, entry.archive_id)
        await asyncio.to_thread(again.save_waku_messages, map(StoredMessage.from_pb, got))
    import_alone = time.perf_counter() - started
    assert again.count_waku_messages() == expected
    again.close()
    await member.stop()
    store.close()
    shutil.rmtree(root / f"member-{i}", ignore_errors=True)
    return total_s, downloaded, import_alone


async def transfer(root: Path, mib: int, weeks: int, repeat: int) -> dict[str, Any]:
    messages, archives = synthetic_history(mib, weeks)
    owner, owner_store = make_backend(root, "owner")
    await owner.start()
    result = await publish(owner, COMMUNITY, archives)
    assert result.link is not None
    await owner.seed(COMMUNITY, result.link)
    paths = owner.paths(COMMUNITY)
    folder = paths.data.stat().st_size + paths.index.stat().st_size
    print(
        f"transfer: {len(archives)} archives, {folder / MiB:.1f} MiB folder, "
        f"{len(messages)} messages"
    )
    raw, ours, download_only, import_only = [], [], [], []
    try:
        for i in range(repeat):
            raw.append(await raw_transfer(root, paths.torrent, owner.listen_port))
            total_s, downloaded, imported = await member_run(root, i, result.link, len(messages))
            ours.append(total_s)
            download_only.append(downloaded)
            import_only.append(imported)
            print(f"  run {i + 1}: raw {raw[-1]:.2f} s, ours {ours[-1]:.2f} s")
    finally:
        await owner.stop()
        owner_store.close()
    return {
        "archives": len(archives),
        "messages": len(messages),
        "payload_bytes": PAYLOAD,
        "folder_bytes": folder,
        "floor": "raw libtorrent download of the same folder (.torrent), same seed, same settings",
        "what": "download_history_archives by magnet, each archive imported as it completes",
        **rates(raw, ours, folder),
        "download_only": rates(raw, download_only, folder),
        "import_only": rates(raw, import_only, folder),
    }


# incremental create --------------------------------------------------------------------------
async def create_week(backend: TorrentBackend, store: Store, week: int) -> tuple[float, Any]:
    """One week's create, as `creation.create_history_archives` does it for one backend:
    read the week from SQLite, encode, publish. Returns (seconds, the publication)."""
    start, end = T0 + week * WEEK, T0 + (week + 1) * WEEK
    started = time.perf_counter()
    publication = await backend.open_publication(COMMUNITY, False)
    built = build_archives(store.iter_waku_messages, TOPICS, start, end, WEEK)
    async for archive in iterate_in_thread(built):
        await publication.add(archive)
    result = await publication.commit()
    elapsed = time.perf_counter() - started
    assert len(result.archive_ids) == 1
    return elapsed, publication


async def year(root: Path, week_mib: float, weeks: int, repeat: int) -> dict[str, Any]:
    """A year is created week by week (per-week times kept as information); then week 1 on an
    empty history and week 52 on the 51 weeks before it are each created `repeat` times,
    alternately, every run undone by the publication's abort (untimed)."""
    store = Store(root / "year.sqlite", cache_mb=64)
    store.save_waku_messages(synthetic_messages(int(week_mib * MiB * weeks), weeks, seed=1))
    owner, _ = make_backend(root, "year", store=store)
    empty, _ = make_backend(root, "year-empty", store=store)
    await owner.start()
    await empty.start()
    sequence: list[float] = []
    first: list[float] = []
    last: list[float] = []
    try:
        for week in range(weeks - 1):
            sequence.append((await create_week(owner, store, week))[0])
        for _ in range(repeat):
            elapsed, publication = await create_week(empty, store, 0)
            first.append(elapsed)
            await publication.abort()
            elapsed, publication = await create_week(owner, store, weeks - 1)
            last.append(elapsed)
            await publication.abort()
        paths = owner.paths(COMMUNITY)
        data = paths.data.read_bytes()
        started = time.perf_counter()
        hash_pieces(data)  # what status-go does every week: hash the whole history again
        rehash_all = time.perf_counter() - started
        history = len(data) + int(week_mib * MiB)
    finally:
        await owner.stop()
        await empty.stop()
        store.close()
    w1, wn = statistics.median(first), statistics.median(last)
    print(f"create: week 1 {w1 * 1000:.1f} ms, week {weeks} {wn * 1000:.1f} ms")
    return {
        "weeks": weeks,
        "week_bytes": int(week_mib * MiB),
        "history_bytes": history,
        "week1_s": round(w1, 4),
        "week_last_s": round(wn, 4),
        "ratio": round(wn / w1, 3),
        "paired_ratio_median": round(
            statistics.median(b / a for a, b in zip(first, last, strict=True)), 3
        ),
        "rehash_whole_history_s": round(rehash_all, 4),
        "samples_week1_s": [round(t, 4) for t in first],
        "samples_week_last_s": [round(t, 4) for t in last],
        "sequence_weeks_1_to_51_s": [round(t, 4) for t in sequence],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()  # other work on the machine skews every ratio
    root = Path(tempfile.mkdtemp(prefix="torrent-bench-"))
    try:
        transfer_result = await transfer(root, args.mib, args.archives, args.repeat)
        create_result = await year(root, args.year_mib, 52, max(args.repeat, 7))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "torrent_transfer",
        "targets": {"download_import_ratio_min": 0.5, "create_week52_vs_week1_max": 1.5},
        "setup": {
            "repeat": args.repeat,
            "download_concurrency": CONCURRENCY,
            "libtorrent": lt.__version__,
            "sessions": (
                "libtorrent, one process, 127.0.0.1, uTP, 4 MiB receive and OS-default send "
                "socket buffers"
            ),
            **machine(load_at_start),
        },
        "download_import": transfer_result,
        "create": create_result,
    }


def markdown(result: dict[str, Any]) -> str:
    s, t, c = result["setup"], result["download_import"], result["create"]
    targets = result["targets"]
    lines = [
        "# BitTorrent benchmark",
        "",
        f"{s['sessions']}; libtorrent {s['libtorrent']}; {s['machine']} (load average "
        f"{s['load_average_at_start'][0]} at start), Python {s['python']}.",
        "",
        f"## Member download + import ({t['archives']} archives, "
        f"{t['folder_bytes'] / MiB:.1f} MiB, {t['messages']} messages; median of "
        f"{s['repeat']} runs; target ratio ≥ {targets['download_import_ratio_min']})",
        "",
        "| measurement | floor | floor MiB/s | ours MiB/s | ratio floor/ours | paired ratio |",
        "|---|---|---:|---:|---:|---:|",
        f"| member download + import | {t['floor']} | {t['floor_mib_s']} | {t['ours_mib_s']} "
        f"| {t['ratio']} | {t['paired_ratio_median']} |",
    ]
    for key, label in (
        ("download_only", "member download alone (info)"),
        ("import_only", "import alone: decode + SQLite, no transfer (info)"),
    ):
        d = t[key]
        lines.append(
            f"| {label} | {t['floor']} | {d['floor_mib_s']} "
            f"| {d['ours_mib_s']} | {d['ratio']} | {d['paired_ratio_median']} |"
        )
    weeks = c["weeks"]
    lines += [
        "",
        f"## Incremental create ({weeks} weeks of {c['week_bytes'] / MiB:.1f} MiB, "
        f"{c['history_bytes'] / MiB:.0f} MiB after a year; target week {weeks} / week 1 ≤ "
        f"{targets['create_week52_vs_week1_max']})",
        "",
        f"| week 1 | week {weeks} | week {weeks} / week 1 | paired ratio "
        "| re-hash of the whole history (status-go, info) |",
        "|---:|---:|---:|---:|---:|",
        f"| {c['week1_s'] * 1000:.1f} ms | {c['week_last_s'] * 1000:.1f} ms | {c['ratio']} "
        f"| {c['paired_ratio_median']} | {c['rehash_whole_history_s'] * 1000:.0f} ms |",
        "",
        "ratio = median floor time / median time of ours; paired ratio = median over the "
        "repetitions of floor/ours measured back to back. A week's create = reading its "
        "messages from SQLite, encoding, appending to `data`, hashing the new pieces and the "
        "index, writing index and .torrent (fsync'ed); week 1 and week 52 are each the median "
        f"of {len(c['samples_week1_s'])} runs, alternated, each undone by the publication's "
        "abort. Per-run and per-week times are in the JSON.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/torrent_transfer.py`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, mib=216)
    parser.add_argument("--year-mib", type=float, default=4.0, help="MiB per week of the year")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    write_results(args.out, "torrent_transfer", result, markdown(result))
    t, c, targets = result["download_import"], result["create"], result["targets"]
    ok = (
        min(t["ratio"], t["paired_ratio_median"]) >= targets["download_import_ratio_min"]
        and c["ratio"] <= targets["create_week52_vs_week1_max"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
