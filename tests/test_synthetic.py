"""Synthetic histories and `archive-service generate` (real SQLite files, real subprocesses)."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import coincurve
import pytest
from archive_service_cli import synthetic
from archive_service_cli.synthetic import (
    BATCH,
    CHAT_MAX,
    DAY,
    DEFAULT_START_TS,
    MEDIA_MAX,
    PUBSUB_TOPIC,
    generate_history,
    iter_messages,
    synthetic_community,
)

from archive_service.errors import InvalidInputError
from archive_service.ids import (
    community_hex,
    content_topic,
    topic_from_chat_id,
    universal_chat_id,
    waku_message_hash,
)
from archive_service.store import Store


def test_same_seed_same_history() -> None:
    a, b, c = (synthetic_community(s, 4) for s in (7, 7, 8))
    assert a == b and a.community_id != c.community_id
    first = [m.hash for m in iter_messages(a, 3000, 10, seed=7)]
    again = [m.hash for m in iter_messages(b, 3000, 10, seed=7)]
    other = [m.hash for m in iter_messages(c, 3000, 10, seed=8)]
    assert first == again
    assert len(set(first)) == 3000
    assert not set(first) & set(other)


# A digest of every row of one history (past a BATCH boundary, with media and bridged
# messages), taken from this version. A seed must keep giving the same history: `generate`
# run again on a store then dedupes instead of adding a second history. Change it only with
# a deliberate change of the generator, and say so in the release notes.
PINNED_HISTORY = "b37a80ebd46f5579fd531e6df94218dcb88ed5cbbc6b059d3b15bd562b7ba121"


def _history_digest(columns: Iterator[tuple[list[object], ...]]) -> str:
    digest = hashlib.sha256()
    for batch in columns:
        for sig, ts, topic, payload, padding, hash_hex, tpid in zip(*batch, strict=True):
            digest.update(b"%b|%d|%s|%b|%b|%s|%s\n" % (
                sig, ts, topic.encode(), payload, padding, hash_hex.encode(), tpid.encode()
            ))  # fmt: skip
    return digest.hexdigest()


def test_history_is_pinned() -> None:
    community = synthetic_community(3, 4)
    n = BATCH + 7_000
    batches = synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS)
    assert _history_digest(batches) == PINNED_HISTORY


def test_batch_size_does_not_change_the_history() -> None:
    # the fast path hands out smaller batches: the same rows, in the same order
    community = synthetic_community(3, 4)
    n = BATCH + 7_000
    whole = synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS)
    parts = list(synthetic._column_batches(community, n, 30, 3, DEFAULT_START_TS, 7_000))
    assert [len(p[0]) for p in parts] == [7_000] * 7 + [1_000, 7_000]
    assert _history_digest(iter(parts)) == _history_digest(whole)
    assert all(isinstance(s, bytearray) for s in parts[0][0] + parts[0][3])


def test_message_hash_is_the_waku_message_hash() -> None:
    # status-go keeps the envelope hash: SHA-256 over pubsub topic, payload, content topic,
    # meta (empty) and the timestamp in nanoseconds (14/WAKU2-MESSAGE)
    community = synthetic_community(5, 3)
    msgs = list(iter_messages(community, 3_000, 2, seed=5))
    for m in msgs:
        expected = waku_message_hash(
            PUBSUB_TOPIC, m.payload, content_topic(m.topic), m.timestamp * 10**9
        )
        assert m.hash == expected
    assert PUBSUB_TOPIC == "/waku/2/default-waku/proto"


def test_community_is_a_real_owner_key() -> None:
    community = synthetic_community(3, 4)
    public = coincurve.PrivateKey(community.private_key).public_key.format(compressed=True)
    assert public == community.community_id and len(public) == 33
    assert len(community.chat_ids) == 4
    assert all(c.startswith(community_hex(community.community_id)) for c in community.chat_ids)
    universal = topic_from_chat_id(universal_chat_id(community.community_id))
    assert community.topics[0] == universal
    assert community.topics[1:] == tuple(topic_from_chat_id(c) for c in community.chat_ids)


def test_messages_shape_and_ranges() -> None:
    community = synthetic_community(1, 5)
    start = 1_600_000_000
    msgs = list(iter_messages(community, 20_000, 3.5, seed=1, start_ts=start))
    assert len(msgs) == 20_000
    stamps = [m.timestamp for m in msgs]
    assert stamps == sorted(stamps)
    assert start <= stamps[0] and stamps[-1] < start + int(3.5 * DAY)
    assert stamps[-1] - stamps[0] > 3 * DAY  # spread over the whole span
    counts = {t: sum(m.topic == t for m in msgs) for t in community.topics}
    assert set(counts) == {m.topic for m in msgs}  # every topic used, no other
    assert 0 < counts[community.topics[0]] < 0.05 * len(msgs)  # universal: a small share
    assert counts[community.topics[1]] > counts[community.topics[-1]]  # busier channels first
    sizes = sorted(len(m.payload) for m in msgs)
    assert 100 < sizes[len(sizes) // 2] < 1000  # chat-sized median
    assert CHAT_MAX < sizes[-1] <= MEDIA_MAX  # and some media
    assert all(len(m.sig) == 65 and len(m.hash) == 32 and m.padding == b"" for m in msgs)
    assert any(m.third_party_id for m in msgs)


def test_a_span_under_one_second_puts_every_message_at_the_start() -> None:
    msgs = list(iter_messages(synthetic_community(2, 1), 500, 1e-6, seed=2, start_ts=1_000))
    assert {m.timestamp for m in msgs} == {1_000}


def test_one_topic_is_the_universal_channel() -> None:
    community = synthetic_community(2, 0)
    msgs = list(iter_messages(community, 100, 1, seed=2))
    universal = topic_from_chat_id(universal_chat_id(community.community_id))
    assert {m.topic for m in msgs} == {universal}


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"messages": -1, "days": 1, "topics": 2}, "--messages"),
        ({"messages": 10, "days": 0, "topics": 2}, "--days"),
        ({"messages": 10, "days": 1, "topics": 0}, "--topics"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, float], flag: str) -> None:
    with Store(tmp_path / "h.sqlite") as store, pytest.raises(InvalidInputError, match=flag):
        generate_history(store, seed=1, **kwargs)  # type: ignore[arg-type]


def test_generate_into_store(tmp_path: Path) -> None:
    seen: list[int] = []
    with Store(tmp_path / "h.sqlite") as store:
        summary = generate_history(
            store, messages=12_345, days=14, topics=4, seed=5, progress=seen.append
        )
        assert summary.messages == summary.new_messages == 12_345
        assert (summary.start_ts, summary.end_ts) == (DEFAULT_START_TS, DEFAULT_START_TS + 14 * DAY)
        assert seen[-1] == 12_345 and seen == sorted(seen)
        assert store.count_waku_messages(summary.topics) == 12_345
        community = store.get_community(summary.community_id)
        assert community is not None and community.is_control_node
        assert len(community.chat_ids) == 3
        stored = list(store.iter_waku_messages(summary.topics, summary.start_ts, summary.end_ts))
        expected = list(
            iter_messages(synthetic_community(5, 3), 12_345, 14, seed=5, start_ts=DEFAULT_START_TS)
        )
        assert {m.hash for m in stored} == {m.hash for m in expected}
        assert summary.payload_bytes == sum(len(m.payload) for m in expected)
        assert store.oldest_message_timestamp(summary.topics) == expected[0].timestamp

        again = generate_history(store, messages=12_345, days=14, topics=4, seed=5)
        assert again.new_messages == 0
        assert store.count_waku_messages() == 12_345
    # the bulk load left a checkpointed database, not a giant WAL
    wal = tmp_path / "h.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("archive-service")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_cli_generate(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    run = _cli("generate", "--db", str(db), "--messages", "3000", "--days", "7", "--seed", "9")
    assert run.returncode == 0, run.stderr
    community = synthetic_community(9, 4)
    assert community_hex(community.community_id) in run.stdout
    assert "3,000 (3,000 new)" in run.stdout
    with Store(db, create=False) as store:
        assert store.count_waku_messages(community.topics) == 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--messages", "-3"], "--messages must be >= 0"),
        (["--days", "0"], "--days must be > 0"),
        (["--topics", "0"], "--topics must be >= 1"),
    ],
)
def test_cli_generate_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "history.sqlite"
    run = _cli("generate", "--db", str(db), *args)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and message in run.stderr
    assert not db.exists()  # rejected before anything was created


def test_cli_generate_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "junk.sqlite"
    db.write_bytes(b"junk" * 1000)
    run = _cli("generate", "--db", str(db), "--messages", "10")
    assert run.returncode == 1
    assert "not a usable archive-service database" in run.stderr
    assert "Traceback" not in run.stderr


def test_large_histories_come_from_a_generator_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above _INLINE_MAX the batches are made by a child interpreter; lower the threshold so a
    # small history takes that path, and check it yields exactly the inline history.
    monkeypatch.setattr(synthetic, "_INLINE_MAX", 100)
    with Store(tmp_path / "h.sqlite") as store:
        summary = generate_history(store, messages=2500, days=3, topics=3, seed=11)
        assert summary.new_messages == 2500
        expected = iter_messages(synthetic_community(11, 2), 2500, 3, seed=11)
        assert store.message_hashes() == {m.hash for m in expected}


def test_fresh_generate_killed_midway_leaves_the_empty_store(tmp_path: Path) -> None:
    # A new store is filled in one transaction (Store.bulk_load's fast path): a crash after
    # pages reached the file (tiny cache: they spill) must roll back to the empty store.
    db = tmp_path / "h.sqlite"
    code = (
        "import os, signal, sys\n"
        "from archive_service.store import Store\n"
        "from archive_service_cli.synthetic import generate_history\n"
        "def progress(done):\n"
        "    if done >= 20_000:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "generate_history(Store(sys.argv[1], cache_mb=1), messages=30_000, days=3, topics=3,\n"
        "                 seed=4, progress=progress)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert db.stat().st_size > 1_000_000  # the load had written into the file
    assert (tmp_path / "h.sqlite-journal").exists()  # hot: the next open rolls back
    with Store(db, create=False) as store:
        assert store.count_waku_messages() == 0 and store.list_communities() == []
        assert store.journal_mode == "wal"
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        summary = generate_history(store, messages=30_000, days=3, topics=3, seed=4)
        assert summary.new_messages == 30_000
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM waku_messages").fetchone()[0] == 30_000


def test_fresh_generate_reports_the_fast_path_only_for_a_new_store(tmp_path: Path) -> None:
    modes: list[str] = []
    with Store(tmp_path / "h.sqlite") as store:
        generate_history(
            store, messages=25_000, days=3, topics=3, seed=6,
            progress=lambda _: modes.append(store.journal_mode),
        )  # fmt: skip
        assert set(modes) == {"delete"} and len(modes) == 3  # 10k-row batches, one transaction
        modes.clear()
        again = generate_history(
            store, messages=25_000, days=3, topics=3, seed=6,
            progress=lambda _: modes.append(store.journal_mode),
        )  # fmt: skip
        assert again.new_messages == 0
        assert modes == ["wal"]  # a committed 50k-row batch at a time
