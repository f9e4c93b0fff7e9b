"""Owner and member in separate processes; a member killed mid-download resumes after a
restart without fetching again what it already has on disk."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from archive_service_torrent.layout import PIECE_LENGTH

from .conftest import COMMUNITY, T0, WEEK, publish_and_seed, week_messages

MEMBER_SCRIPT = Path(__file__).with_name("member_process.py")


async def start_member(root: Path, link: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(MEMBER_SCRIPT),
        str(root),
        COMMUNITY.hex(),
        link,
        stdout=asyncio.subprocess.PIPE,
    )


async def read_event(proc: asyncio.subprocess.Process) -> dict[str, object]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line, "member process ended early"
    return json.loads(line)


async def test_member_process_downloads_from_owner(make_side, tmp_path: Path) -> None:
    owner = await make_side("owner")
    result = await publish_and_seed(owner, week_messages(0) + week_messages(1), T0, T0 + 2 * WEEK)
    proc = await start_member(tmp_path / "member", result.link)
    events = []
    while True:
        event = await read_event(proc)
        events.append(event)
        if event["type"] == "done":
            break
    assert await proc.wait() == 0
    done = events[-1]
    assert (done["total_archives"], done["total_downloaded"], done["failed_archive_ids"]) == (
        2,
        2,
        [],
    )
    kinds = [e["type"] for e in events]
    assert kinds.count("community.historyArchiveDownloaded") == 2
    member_data = tmp_path / "member" / "torrent" / "archivedata" / f"0x{COMMUNITY.hex()}"
    assert (member_data / "data").read_bytes() == owner.backend.paths(COMMUNITY).data.read_bytes()


async def test_member_killed_mid_download_resumes(make_side, tmp_path: Path) -> None:
    # ~1 MB/s for ~3 MB: the kill lands well inside the transfer even on a loaded machine.
    owner = await make_side("owner", upload_rate_limit=1_000_000, limit_local_peers=True)
    messages = [m for w in range(3) for m in week_messages(w, count=100, size=10_000)]
    result = await publish_and_seed(owner, messages, T0, T0 + 3 * WEEK)
    entries = await owner.backend.read_index(COMMUNITY)
    total = sum(e.size for e in entries)

    proc = await start_member(tmp_path / "member", result.link)
    while (await read_event(proc))["type"] != "community.historyArchiveDownloaded":
        pass
    await asyncio.sleep(0.4)  # the window keeps fetching the next archives meanwhile
    proc.kill()
    await proc.wait()

    member = await make_side("member")  # same directory and database, new process state
    saved_before = {d.archive_id for d in member.store.downloaded_archives(COMMUNITY)}
    assert 1 <= len(saved_before) < 3
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert (info.total_archives, info.total_downloaded, info.failed_archive_ids) == (3, 3, [])
    missing_at_restart = sum(e.size for e in entries if e.archive_id not in saved_before)
    assert info.bytes_downloaded == missing_at_restart
    fetched = member.backend.torrent_status(COMMUNITY).total_payload_download
    # Pieces verified before the kill were recognised on disk, not fetched again.
    assert fetched <= missing_at_restart - PIECE_LENGTH
    assert fetched < total
    assert (
        member.backend.paths(COMMUNITY).data.read_bytes()
        == owner.backend.paths(COMMUNITY).data.read_bytes()
    )
