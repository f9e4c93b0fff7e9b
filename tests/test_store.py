"""The SQLite store on real database files."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from archive_service.errors import StoreError
from archive_service.ids import community_hex, keccak256, topic_hex
from archive_service.store import SCHEMA_VERSION, ArchiveLinkState, Community, Store
from archive_service.types import StoredMessage

T1 = b"\x01\x02\x03\x04"
T2 = b"\xaa\xbb\xcc\xdd"
T3 = b"\x00\x00\x00\x09"
CID = bytes([2]) + bytes(range(32))
CID2 = bytes([3]) + bytes(range(32, 64))


def msg(ts: int, topic: bytes = T1, n: int = 0, payload: bytes = b"payload") -> StoredMessage:
    h = keccak256(b"%d/%d/%s" % (ts, n, topic))
    return StoredMessage(b"s" * 65, ts, topic, payload, b"\x00" * 3, h, "")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.sqlite") as s:
        yield s


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


# opening, schema, migrations -----------------------------------------------------------------


def test_new_database_is_wal_and_current_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "node.sqlite"  # parent directories are created
    with Store(path) as s:
        assert s.journal_mode == "wal"
        assert s.schema_version == SCHEMA_VERSION >= 1
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert raw(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_database_has_16k_pages_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    with Store(tmp_path / "new.sqlite") as s:
        assert s._conn.execute("PRAGMA page_size").fetchone()[0] == 16384
    old = tmp_path / "old.sqlite"
    with raw(old) as c:
        c.execute("PRAGMA page_size=4096")
        c.execute("CREATE TABLE other (x)")  # fixes the page size, as any earlier store did
    with Store(old) as s:
        assert s._conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        s.save_waku_messages([msg(1)])
        assert s.count_waku_messages() == 1


def test_reopen_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    with Store(path) as s:
        s.save_waku_messages([msg(10)])
        s.set_last_archive_end_date(CID, 99)
    for _ in range(2):
        with Store(path, create=False) as s:
            assert s.schema_version == SCHEMA_VERSION
            assert s.count_waku_messages() == 1
            assert s.get_last_archive_end_date(CID) == 99


def test_status_go_columns_and_encodings(store: Store) -> None:
    store.save_waku_messages([msg(10, T1)._replace(third_party_id="tp")])
    store.save_archive_id(CID, "0x" + "ab" * 32, backend="torrent", from_ts=0, to_ts=10)
    store.set_archive_link(CID, "torrent", "magnet:?xt=urn:btih:00")
    c = store._conn
    cols = [r[1] for r in c.execute("PRAGMA table_info(waku_messages)")]
    assert cols == ["sig", "timestamp", "topic", "payload", "padding", "hash", "third_party_id"]
    info_cols = [r[1] for r in c.execute("PRAGMA table_info(communities_archive_info)")]
    assert info_cols == [
        "community_id",
        "archive_link_clock",
        "last_message_archive_end_date",
        "last_archive_link",
    ]
    hashes_cols = [r[1] for r in c.execute("PRAGMA table_info(community_message_archive_hashes)")]
    assert hashes_cols[:3] == ["community_id", "hash", "imported"]
    topic, hash_, tp = c.execute("SELECT topic, hash, third_party_id FROM waku_messages").fetchone()
    assert topic == "0x01020304" == topic_hex(T1)
    assert hash_ == msg(10, T1).hash.hex() and not hash_.startswith("0x")
    assert tp == "tp"
    (cid,) = c.execute("SELECT community_id FROM community_message_archive_hashes").fetchone()
    assert cid == community_hex(CID) and len(cid) == 68
    (cid,) = c.execute("SELECT community_id FROM communities_archive_info").fetchone()
    assert cid == community_hex(CID)
    plan = c.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM waku_messages WHERE timestamp >= 1 AND timestamp < 2"
    ).fetchall()
    assert "waku_messages_timestamp_topic" in str(plan)


def test_missing_database_without_create(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite"
    with pytest.raises(StoreError, match="does not exist; run `archive-service generate`"):
        Store(path, create=False)
    assert not path.exists()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    Store(path).close()
    with raw(path) as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError, match=r"newer than this archive-service.*upgrade"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 500)
    with pytest.raises(StoreError, match="not a usable archive-service database"):
        Store(path)
    assert path.read_bytes() == b"this is not sqlite" * 500  # nothing overwritten


def test_empty_sqlite_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    raw(path).close()  # a valid, empty SQLite database at user_version 0
    with Store(path, create=False) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.count_waku_messages() == 0


def test_rows_recorded_under_codex_are_found_under_logos_storage(tmp_path: Path) -> None:
    # A store written before the rename: schema step 1, links and archive IDs under `codex`;
    # a node renames a backend's aliases when it opens (node.py), naming no backend itself.
    path = tmp_path / "node.sqlite"
    Store(path).close()
    cid, other = community_hex(CID), community_hex(CID2)
    with contextlib.closing(raw(path)) as c, c:
        c.execute("ALTER TABLE communities_archive_links DROP COLUMN accepted_link")
        c.execute("PRAGMA user_version=1")
        c.executemany(
            "INSERT INTO communities_archive_links (community_id, backend, link, clock) "
            "VALUES (?,?,?,?)",
            [(cid, "codex", "zDvZcodex", 7), (cid, "torrent", "magnet:?xt=1", 5),
             (other, "codex", "zDvZother", 3)],
        )  # fmt: skip
        c.executemany(
            "INSERT INTO community_message_archive_hashes "
            "(community_id, hash, imported, backend, from_ts, to_ts, link) "
            "VALUES (?,?,?,?,?,?,?)",
            [(cid, "aa", True, "codex", 0, 10, "zDvZa"), (cid, "bb", False, "torrent", 10, 20, "")],
        )
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.rename_backend("codex", "logos-storage") == 3  # as a node opening does
        assert s.rename_backend("codex", "logos-storage") == 0  # idempotent
        assert s.get_archive_link(CID, "logos-storage") == ArchiveLinkState("zDvZcodex", 7)
        assert s.get_archive_link(CID2, "logos-storage") == ArchiveLinkState("zDvZother", 3)
        assert s.get_archive_link(CID, "torrent") == ArchiveLinkState("magnet:?xt=1", 5)
        assert s.get_archive_link(CID, "codex") == ArchiveLinkState()
        assert {(a.archive_id, a.backend) for a in s.downloaded_archives(CID)} == {
            ("aa", "logos-storage"),
            ("bb", "torrent"),
        }
    with contextlib.closing(raw(path)) as c:  # renamed in the file, not only when read
        for table in ("communities_archive_links", "community_message_archive_hashes"):
            count = c.execute(f"SELECT count(*) FROM {table} WHERE backend = 'codex'").fetchone()
            assert count == (0,)


# waku_messages ---------------------------------------------------------------------------


def test_save_dedupes_by_hash(store: Store) -> None:
    batch = [msg(1), msg(2), msg(1)]  # a duplicate inside the batch too
    assert store.save_waku_messages(batch) == 2
    assert store.save_waku_messages([msg(1), msg(3)]) == 1
    assert store.count_waku_messages() == 3
    assert store.message_hashes() == {msg(1).hash, msg(2).hash, msg(3).hash}


def test_save_is_atomic(store: Store) -> None:
    def broken() -> Iterator[StoredMessage]:
        yield msg(1)
        yield msg(2)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        store.save_waku_messages(broken())
    assert store.count_waku_messages() == 0
    assert store.save_waku_messages([msg(1)]) == 1  # the store is still usable


def test_iter_half_open_ordered_and_filtered(store: Store) -> None:
    messages = [msg(ts, topic) for ts in (50, 10, 30, 20, 40, 60) for topic in (T1, T2, T3)]
    store.save_waku_messages(messages)
    got = list(store.iter_waku_messages([T2, T1], 20, 50))
    assert [m.timestamp for m in got] == [20, 20, 30, 30, 40, 40]
    assert {m.topic for m in got} == {T1, T2}
    assert set(got) == {m for m in messages if 20 <= m.timestamp < 50 and m.topic != T3}
    assert list(store.iter_waku_messages([T1], 50, 50)) == []
    assert list(store.iter_waku_messages([], 0, 100)) == []
    assert list(store.iter_waku_messages([b"\xff" * 4], 0, 100)) == []


def test_iter_round_trips_every_field(store: Store) -> None:
    m = StoredMessage(b"\x01" * 65, 7, T2, b"\x00\xff" * 100, b"\x07" * 5, b"\x09" * 32, "3rd")
    store.save_waku_messages([m])
    assert list(store.iter_waku_messages([T2], 0, 8)) == [m]


def test_iter_streams_across_pages_without_loss(store: Store) -> None:
    # More rows than one page, most with the same (timestamp, topic): the keyset must resume
    # inside a run of equal keys.
    messages = [msg(100, T1, n) for n in range(9000)] + [msg(101, T2, n) for n in range(10)]
    messages += [msg(99, T1, n) for n in range(5)]
    store.save_waku_messages(messages)
    got = list(store.iter_waku_messages([T1, T2], 0, 1000))
    assert len(got) == len(messages)
    assert {m.hash for m in got} == {m.hash for m in messages}
    assert [m.timestamp for m in got] == sorted(m.timestamp for m in messages)


def test_iter_pages_end_early_on_large_payloads(store: Store) -> None:
    big = b"x" * 3_000_000  # several of these exceed one page's byte budget
    messages = [msg(ts, T1, payload=big) for ts in range(12)]
    store.save_waku_messages(messages)
    got = [m.timestamp for m in store.iter_waku_messages([T1], 0, 100)]
    assert got == list(range(12))


def test_iter_does_not_hold_the_lock_between_items(store: Store) -> None:
    store.save_waku_messages([msg(ts) for ts in range(10)])
    it = store.iter_waku_messages([T1], 0, 100)
    first = next(it)
    done = threading.Event()

    def writer() -> None:
        store.save_waku_messages([msg(1000)])
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    t.join(timeout=5)
    assert done.is_set(), "a writer thread blocked while an iterator was paused"
    rest = list(it)
    assert [first.timestamp, *(m.timestamp for m in rest)] == list(range(10))


def test_oldest_latest_and_counts(store: Store) -> None:
    assert store.oldest_message_timestamp([T1]) == 0
    assert store.latest_message_timestamp([T1]) == 0
    store.save_waku_messages([msg(5, T1), msg(9, T1), msg(2, T2), msg(20, T3)])
    assert store.oldest_message_timestamp([T1]) == 5
    assert store.latest_message_timestamp([T1]) == 9
    assert store.oldest_message_timestamp([T1, T2]) == 2
    assert store.latest_message_timestamp([T1, T2, T3]) == 20
    assert store.oldest_message_timestamp([]) == 0
    assert store.count_waku_messages([T1]) == 2
    assert store.count_waku_messages([T2, T3]) == 2
    assert store.count_waku_messages() == 4
    assert store.message_hashes([T2]) == {msg(2, T2).hash}


def test_concurrent_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                store.save_waku_messages([msg(i, T1, n=k * 1000 + j) for j in range(25)])
                sum(1 for _ in store.iter_waku_messages([T1], 0, 100))
                store.set_archive_link_clock(CID, f"b{k}", i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert store.count_waku_messages() == 4 * 20 * 25
    assert all(store.get_archive_link(CID, f"b{k}").clock == 19 for k in range(4))


# communities -----------------------------------------------------------------------------


def test_communities_round_trip_and_update(store: Store) -> None:
    assert store.get_community(CID) is None
    owner = Community(CID, private_key=b"\x11" * 32, encrypted=True, chat_ids=("c2", "c1"))
    member = Community(CID2, joined=False, archives_enabled=False)
    store.save_community(owner)
    store.save_community(member)
    assert store.get_community(CID) == owner
    assert store.get_community(CID).is_control_node
    assert store.get_community(CID2) == member
    assert not member.is_control_node
    assert store.list_communities() == [owner, member]
    updated = Community(CID, private_key=b"\x11" * 32, chat_ids=("c3",))
    store.save_community(updated)
    assert store.get_community(CID) == updated
    rows = store._conn.execute("SELECT COUNT(*) FROM community_chats").fetchone()[0]
    assert rows == 1


# archive info ----------------------------------------------------------------------------


def test_archive_info_defaults(store: Store) -> None:
    assert store.get_last_archive_end_date(CID) == 0
    assert store.get_archive_link(CID, "torrent") == ArchiveLinkState("", 0)


def test_archive_info_upserts_touch_one_column(store: Store) -> None:
    # status-go V0's INSERT ... ON CONFLICT REPLACE wiped the clock and link (§11.5).
    store.set_archive_link(CID, "torrent", "magnet:a")
    store.set_archive_link_clock(CID, "torrent", 1234)
    store.set_last_archive_end_date(CID, 777)
    assert store.get_archive_link(CID, "torrent") == ArchiveLinkState("magnet:a", 1234)
    store.set_archive_link(CID, "torrent", "magnet:b")
    assert store.get_archive_link(CID, "torrent") == ArchiveLinkState("magnet:b", 1234)
    assert store.get_last_archive_end_date(CID) == 777
    store.set_last_archive_end_date(CID, 888)
    assert store.get_last_archive_end_date(CID) == 888
    assert store.get_archive_link(CID, "torrent") == ArchiveLinkState("magnet:b", 1234)
    row = store._conn.execute(
        "SELECT archive_link_clock, last_message_archive_end_date, last_archive_link "
        "FROM communities_archive_info WHERE community_id = ?",
        (community_hex(CID),),
    ).fetchone()
    assert row == (1234, 888, "magnet:b")


def test_archive_links_per_backend_and_community(store: Store) -> None:
    store.set_archive_link(CID, "torrent", "magnet:t")
    store.set_archive_link(CID, "codex", "zCodex")
    store.set_archive_link_clock(CID, "codex", 50)
    store.set_archive_link_clock(CID, "torrent", 40)
    store.set_archive_link(CID2, "codex", "zOther")
    assert store.get_archive_link(CID, "torrent") == ArchiveLinkState("magnet:t", 40)
    assert store.get_archive_link(CID, "codex") == ArchiveLinkState("zCodex", 50)
    assert store.get_archive_link(CID2, "codex") == ArchiveLinkState("zOther", 0)
    store.set_archive_link_clock(CID, "codex", 10)  # a backend's own clock is set as given
    assert store.get_archive_link(CID, "codex").clock == 10
    # the status-go-shaped row holds the latest link and the highest clock
    row = store._conn.execute(
        "SELECT archive_link_clock, last_archive_link FROM communities_archive_info "
        "WHERE community_id = ?",
        (community_hex(CID),),
    ).fetchone()
    assert row == (50, "zCodex")


# downloaded / imported archive IDs -------------------------------------------------------


def aid(n: int) -> str:
    return "0x" + keccak256(bytes([n])).hex()


def test_archive_ids(store: Store) -> None:
    store.save_archive_id(CID, aid(1), backend="torrent", from_ts=0, to_ts=10, link="magnet:x")
    store.save_archive_id(CID, aid(1), backend="torrent", from_ts=0, to_ts=10)  # idempotent
    store.save_archive_id(CID, aid(2), backend="codex", from_ts=20, to_ts=30)
    store.save_archive_id(CID, aid(3), backend="codex", from_ts=10, to_ts=20)
    store.save_archive_id(CID2, aid(4), backend="codex", from_ts=10, to_ts=20)
    assert store.has_archive_id(CID, aid(1))
    assert not store.has_archive_id(CID, aid(4))
    assert not store.has_archive_id(CID, aid(9))
    downloaded = store.downloaded_archives(CID)
    assert [d.archive_id for d in downloaded] == [aid(2), aid(3), aid(1)]
    assert downloaded[2].link == "magnet:x" and downloaded[2].backend == "torrent"
    assert (downloaded[0].from_ts, downloaded[0].to_ts) == (20, 30)
    assert all(not d.imported for d in downloaded)

    store.set_archive_imported(CID, aid(2))
    assert [d.archive_id for d in store.archives_to_import(CID)] == [aid(3), aid(1)]
    store.save_archive_id(CID, aid(2), backend="codex", from_ts=20, to_ts=30)
    assert store.downloaded_archives(CID)[0].imported  # a re-save keeps the imported flag
    store.set_archive_imported(CID, aid(2), imported=False)
    assert len(store.archives_to_import(CID)) == 3


def test_set_imported_of_unknown_archive_fails(store: Store) -> None:
    with pytest.raises(StoreError, match="never recorded"):
        store.set_archive_imported(CID, aid(7))
    store.save_archive_id(CID2, aid(7), backend="codex", from_ts=0, to_ts=1)
    with pytest.raises(StoreError):
        store.set_archive_imported(CID, aid(7))  # it belongs to another community


# hash ratchet ----------------------------------------------------------------------------


def test_group_keys(store: Store) -> None:
    assert store.group_keys(CID) == []
    assert store.group_key_by_id(b"k" * 32) is None
    store.save_group_key(CID, b"k2" * 16, 2_000, b"\x02" * 32)
    store.save_group_key(CID, b"k1" * 16, 1_000, b"\x01" * 32)
    store.save_group_key(CID, b"k1" * 16, 1_000, b"\x01" * 32)  # idempotent
    store.save_group_key(CID2, b"k3" * 16, 500, b"\x03" * 32)
    assert store.group_keys(CID) == [
        (b"k1" * 16, 1_000, b"\x01" * 32),
        (b"k2" * 16, 2_000, b"\x02" * 32),
    ]
    assert store.group_key_by_id(b"k3" * 16) == (CID2, 500, b"\x03" * 32)
    big_ts = 1_700_000_000_123
    store.save_group_key(CID, b"k4" * 16, big_ts, b"\x04" * 32)
    (dep,) = store._conn.execute(
        "SELECT deprecated_key_id FROM hash_ratchet_encryption WHERE key_id = ?", (b"k4" * 16,)
    ).fetchone()
    assert dep == big_ts & 0xFFFFFFFF  # uint32(key.Timestamp), as status-go


def test_ratchet_steps(store: Store) -> None:
    kid = b"k" * 32
    store.save_group_key(CID, kid, 1, b"\x01" * 32)
    assert store.latest_ratchet_step(kid) is None
    assert store.ratchet_step_at_or_below(kid, 10) is None
    store.save_ratchet_step(kid, 1, b"h1")
    store.save_ratchet_step(kid, 5, b"h5")
    store.save_ratchet_step(kid, 9, b"h9")
    store.save_ratchet_step(b"other", 50, b"x")  # a step of another key does not leak
    assert store.ratchet_step_at_or_below(kid, 0) is None
    assert store.ratchet_step_at_or_below(kid, 1) == (1, b"h1")
    assert store.ratchet_step_at_or_below(kid, 8) == (5, b"h5")
    assert store.ratchet_step_at_or_below(kid, 100) == (9, b"h9")
    assert store.latest_ratchet_step(kid) == (9, b"h9")
    (group,) = store._conn.execute(
        "SELECT group_id FROM hash_ratchet_encryption_cache WHERE key_id = ? AND seq_no = 5",
        (kid,),
    ).fetchone()
    assert group == CID


def test_ratchet_steps_in_one_transaction(store: Store) -> None:
    kid = b"k" * 32
    store.save_group_key(CID, kid, 1, b"\x01" * 32)
    store.save_ratchet_steps(kid, [(1, b"old")])
    steps = [(n, keccak256(b"%d" % n)) for n in range(1, 20_001)]
    before = store._conn.total_changes()
    store.save_ratchet_steps(kid, steps)
    assert store._conn.total_changes() - before == 20_000  # step 1 updated, the rest inserted
    assert store.ratchet_step_at_or_below(kid, 1) == steps[0]
    assert store.ratchet_step_at_or_below(kid, 12_345) == steps[12_344]
    assert store.latest_ratchet_step(kid) == steps[-1]
    groups = store._conn.execute(
        "SELECT DISTINCT group_id FROM hash_ratchet_encryption_cache WHERE key_id = ?", (kid,)
    ).fetchall()
    assert groups == [(CID,)]
    # a key not (yet) stored: empty group_id, as save_ratchet_step
    store.save_ratchet_steps(b"u" * 32, [(3, b"h3")])
    assert store._conn.execute(
        "SELECT group_id FROM hash_ratchet_encryption_cache WHERE key_id = ?", (b"u" * 32,)
    ).fetchall() == [(b"",)]
    store.save_ratchet_steps(kid, [])  # nothing to save is fine
    assert store.latest_ratchet_step(kid) == steps[-1]


def test_ratchet_steps_all_or_nothing(store: Store) -> None:
    kid = b"k" * 32

    def steps() -> Iterator[tuple[int, bytes]]:
        yield from ((n, b"h%d" % n) for n in range(1, 1000))
        yield (1000, None)  # type: ignore[misc]  # NOT NULL hash: the insert fails

    with pytest.raises(StoreError):
        store.save_ratchet_steps(kid, steps())
    assert store.latest_ratchet_step(kid) is None  # the 999 good steps were rolled back


def test_bulk_writes_defers_then_runs_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    wal = tmp_path / "node.sqlite-wal"
    with Store(path) as s:
        with s.bulk_writes():
            for k in range(5):
                s.save_waku_messages([msg(ts, n=k, payload=b"p" * 2000) for ts in range(500)])
            grown = wal.stat().st_size
            assert grown > 5 * 500 * 2000  # every commit still in the WAL, none checkpointed
        assert wal.stat().st_size == 0  # truncated by the final checkpoint
        assert s._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert s.count_waku_messages() == 2500


def schema(path: Path) -> list[tuple[str, str, str, str]]:
    with raw(path) as c:
        return c.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()


def test_bulk_load_fast_path_on_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with Store(tmp_path / "plain.sqlite"):
        pass
    with Store(path) as s:
        with s.bulk_load() as fast:
            assert fast
            assert s.journal_mode == "delete"  # one transaction, rollback journal
            s.save_community(Community(id=CID, chat_ids=("c",)))
            assert s.save_waku_messages([msg(ts, n=1) for ts in range(3000)]) == 3000
            assert s.save_waku_messages([msg(5, n=1), msg(5, n=2)]) == 1  # still deduped
            assert s.count_waku_messages() == 3001
            # the timestamp index is rebuilt once at the end, not maintained row by row
            indexes = s._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            assert "waku_messages_timestamp_topic" not in {name for (name,) in indexes}
        assert s.journal_mode == "wal"
        assert [m.timestamp for m in s.iter_waku_messages([T1], 0, 6)] == [0, 1, 2, 3, 4, 5, 5]
        assert s.get_community(CID) is not None
    assert not (tmp_path / "new.sqlite-journal").exists()
    assert raw(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert schema(path) == schema(tmp_path / "plain.sqlite")  # same tables, indexes, SQL


def test_bulk_load_error_rolls_the_new_store_back(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with Store(tmp_path / "plain.sqlite"):
        pass
    with Store(path) as s:
        with pytest.raises(RuntimeError), s.bulk_load() as fast:
            assert fast
            s.save_community(Community(id=CID))
            s.save_waku_messages([msg(ts, payload=b"p" * 5000) for ts in range(2000)])
            raise RuntimeError("interrupted")
        indexes = s._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        assert "waku_messages_timestamp_topic" in {name for (name,) in indexes}  # back
        assert s.journal_mode == "wal"
        assert s.count_waku_messages() == 0 and s.list_communities() == []
        with s.bulk_load() as fast:  # still new and empty: the fast path again
            assert fast
            s.save_waku_messages([msg(1)])
        assert s.count_waku_messages() == 1
    assert raw(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert schema(path) == schema(tmp_path / "plain.sqlite")


# Killed (SIGKILL) as the fast path starts rebuilding the indexes, after the load: it prints
# how large the file already is, then dies.
_KILLED_AT_INDEX_BUILD = """
import os, signal, sys
from archive_service.store import Community, Store
from archive_service.types import StoredMessage

class KillAtIndexBuild:
    def __init__(self, conn):
        self._conn = conn
    def execute(self, sql, *args):
        if sql.startswith("CREATE INDEX"):
            print(os.path.getsize(sys.argv[1]), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return self._conn.execute(sql, *args)
    def __getattr__(self, name):
        return getattr(self._conn, name)

s = Store(sys.argv[1], cache_mb=256)  # the whole load fits in the page cache: no spills
s._conn = KillAtIndexBuild(s._conn)
with s.bulk_load(2000):
    s.save_community(Community(id=bytes(33)))
    s.save_waku_messages(
        StoredMessage(b"s" * 65, ts, b"\\x01\\x02\\x03\\x04", os.urandom(2000), b"", os.urandom(32))
        for ts in range(2000)
    )
"""


def test_bulk_load_killed_while_rebuilding_indexes_leaves_the_empty_store(
    tmp_path: Path,
) -> None:
    # The load's pages are written to the file before the indexes are rebuilt (so the file is
    # synced meanwhile, not all at the commit); a kill then still rolls back to the empty store.
    path = tmp_path / "new.sqlite"
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_INDEX_BUILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert int(run.stdout) > 2000 * 2000  # the rows were in the file before the index build
    assert (tmp_path / "new.sqlite-journal").exists()  # hot: the next open rolls back
    with Store(path, create=False) as s:
        assert s.count_waku_messages() == 0 and s.list_communities() == []
        assert s.journal_mode == "wal"
        indexes = s._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        assert "waku_messages_timestamp_topic" in {name for (name,) in indexes}
    assert raw(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# A reader of the store's file with the standard library's sqlite3, in its own process: two
# SQLite libraries in one process do not see each other's locks (POSIX locks are per process,
# and each library keeps its own table of them), so an in-process sqlite3 connection is not
# "another connection" to the store's apsw one. It holds the database open (WAL keeps a shared
# lock on the file) until its stdin closes.
_READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
print(conn.execute("SELECT COUNT(*) FROM waku_messages").fetchone()[0], flush=True)
sys.stdin.read()
conn.close()
"""


@contextmanager
def sqlite3_reader(path: Path) -> Iterator[str]:
    """A sqlite3 connection in another process that has read `path`; yields what it read."""
    with subprocess.Popen(
        [sys.executable, "-c", _READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            yield child.stdout.readline().strip()
        finally:
            child.stdin.close()
            assert child.wait(timeout=30) == 0


@pytest.mark.parametrize("existing", ["messages", "other rows", "reopened", "shared"])
def test_bulk_load_safe_path_for_anything_else(tmp_path: Path, existing: str) -> None:
    path = tmp_path / "node.sqlite"
    s = Store(path)
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: s.close())
        if existing == "messages":
            s.save_waku_messages([msg(1)])
        elif existing == "other rows":
            s.save_group_key(CID, b"k" * 32, 1, b"\x01" * 32)
        elif existing == "reopened":  # empty, but this Store did not create it
            s.close()
            s = Store(path, create=False)
        else:  # another connection reads the new database
            assert stack.enter_context(sqlite3_reader(path)) == "0"
        with s.bulk_load() as fast:
            assert not fast
            assert s.journal_mode == "wal"
            s.save_waku_messages([msg(ts, n=2) for ts in range(100)])
        assert s.count_waku_messages() == 100 + (existing == "messages")


# files stay readable by the standard library's sqlite3 -----------------------------------------


def test_files_are_readable_by_the_standard_sqlite3(tmp_path: Path) -> None:
    loaded, grown = tmp_path / "loaded.sqlite", tmp_path / "grown.sqlite"
    messages = [msg(ts, topic, n) for ts in range(50) for topic in (T1, T2) for n in range(3)]
    with Store(loaded) as s, s.bulk_load(len(messages)) as fast:  # the fast path's file
        assert fast
        s.save_community(Community(id=CID, chat_ids=("c1", "c2")))
        s.save_waku_messages(messages)
    with Store(grown) as s:  # the WAL path: committed pages still in the log while open
        s.save_community(Community(id=CID, chat_ids=("c1", "c2")))
        s.save_waku_messages(messages)
        s.save_archive_id(CID, aid(1), backend="torrent", from_ts=0, to_ts=50)
        s.set_archive_imported(CID, aid(1))
        assert (tmp_path / "grown.sqlite-wal").stat().st_size > 0
        with sqlite3_reader(grown) as count:  # another process, while the store is open
            assert count == str(len(messages))
    for path in (loaded, grown):
        with contextlib.closing(raw(path)) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            rows = c.execute(
                "SELECT sig, timestamp, topic, payload, padding, hash, third_party_id "
                "FROM waku_messages ORDER BY timestamp, topic, hash"
            ).fetchall()
            expected = sorted(
                (m.sig, m.timestamp, topic_hex(m.topic), m.payload, m.padding, m.hash.hex(), "")
                for m in messages
            )
            assert sorted(rows) == expected
            chats = c.execute("SELECT chat_id FROM community_chats ORDER BY position").fetchall()
            assert chats == [("c1",), ("c2",)]
            c.execute("INSERT INTO communities (id) VALUES ('0x00')")  # and writable
            c.commit()
    with Store(grown, create=False) as s:
        assert s.archives_to_import(CID) == [] and s.get_community(CID) is not None


# archives committed whole (issue #14 item 2) ---------------------------------------------------


def recorded(store: Store, *archives: int, community: bytes = CID) -> None:
    for n in archives:
        store.save_archive_id(community, aid(n), backend="torrent", from_ts=n, to_ts=n + 1)


def imported(store: Store, community: bytes = CID) -> set[str]:
    return {a.archive_id for a in store.downloaded_archives(community) if a.imported}


def test_import_archive_stores_and_marks_it(store: Store) -> None:
    recorded(store, 1, 2)
    messages = [msg(ts, n=n) for ts in range(100) for n in range(3)]
    assert store.import_archive(CID, aid(1), messages) == 300
    assert store.count_waku_messages() == 300
    assert imported(store) == {aid(1)}
    assert [a.archive_id for a in store.archives_to_import(CID)] == [aid(2)]
    assert store.import_archive(CID, aid(1), messages) == 0  # again: nothing new, still marked
    assert imported(store) == {aid(1)}
    assert store.import_archive(CID, aid(2), iter([])) == 0  # an empty archive is imported too
    assert imported(store) == {aid(1), aid(2)}


def test_import_archive_dedupes_across_archives(store: Store) -> None:
    recorded(store, 1, 2)
    recorded(store, 3, community=CID2)
    first = [msg(ts) for ts in range(0, 60)]
    second = [msg(ts) for ts in range(40, 100)]  # 20 messages also in the first archive
    assert store.import_archive(CID, aid(1), first) == 60
    assert store.import_archive(CID, aid(2), second) == 40
    assert store.import_archive(CID2, aid(3), first + second) == 0  # another community's copy
    assert store.count_waku_messages() == 100
    assert store.message_hashes() == {m.hash for m in first + second}
    assert imported(store) == {aid(1), aid(2)} and imported(store, CID2) == {aid(3)}


def test_import_archive_of_an_unrecorded_archive_stores_nothing(store: Store) -> None:
    recorded(store, 7, community=CID2)
    for community in (CID, CID2):
        archive = aid(7) if community == CID else aid(8)  # another community's, then unknown
        with pytest.raises(StoreError, match="never recorded; save_archive_id must come before"):
            store.import_archive(community, archive, [msg(1), msg(2)])
    assert store.count_waku_messages() == 0
    assert imported(store, CID2) == set()


def test_import_archive_is_both_or_neither(store: Store) -> None:
    recorded(store, 1, 2)
    store.import_archive(CID, aid(2), [msg(ts, n=9) for ts in range(10)])

    # A failure inside SQLite at row 500 (INSERT OR IGNORE skips rows that violate NOT NULL
    # instead of failing, so a constraint cannot inject it; a trigger's ABORT does).
    store._conn.execute(
        "CREATE TRIGGER fail_at_500 BEFORE INSERT ON waku_messages WHEN NEW.timestamp = 500 "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )

    def failing_source() -> Iterator[StoredMessage]:
        yield from (msg(ts) for ts in range(500))
        raise RuntimeError("archive decoding failed")

    with pytest.raises(StoreError, match=r"write to database .* failed: injected failure"):
        store.import_archive(CID, aid(1), (msg(ts) for ts in range(600)))
    with pytest.raises(RuntimeError, match="archive decoding failed"):
        store.import_archive(CID, aid(1), failing_source())
    assert store.count_waku_messages() == 10  # only the other archive's
    assert imported(store) == {aid(2)}
    assert [a.archive_id for a in store.archives_to_import(CID)] == [aid(1)]
    store._conn.execute("DROP TRIGGER fail_at_500")
    assert store.import_archive(CID, aid(1), (msg(ts) for ts in range(600))) == 600  # usable
    assert imported(store) == {aid(1), aid(2)}


ARCHIVE_MESSAGES = 40_000  # ~45 MB: more than the page cache, so pages spill before COMMIT


def archive_message(i: int) -> StoredMessage:
    """Message i of the large archive the kill test imports (payload ~1 KB, hash unique)."""
    h = keccak256(b"kill-test/%d" % i)
    return StoredMessage(h * 2 + b"s", 1_000 + i, T1, h * 32, b"", h, "")


# The importing child: records nothing itself (the parent did), prints `at <i>` once it has
# handed message i to the store, `at <n>` when the source is exhausted (COMMIT follows) and
# `done` after import_archive returned.
_IMPORTER = """
import sys
sys.path.insert(0, sys.argv[1])
from test_store import CID, aid, archive_message
from archive_service.store import Store
path, n, at = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def messages():
    for i in range(n):
        yield archive_message(i)
        if i == at:
            print("at", i, flush=True)
    if at == n:
        print("at", n, flush=True)

with Store(path, create=False) as store:
    new = store.import_archive(CID, aid(1), messages())
    print("done", new, flush=True)
"""


def test_import_archive_survives_kill_9_at_any_moment(tmp_path: Path) -> None:
    """SIGKILL while an archive is being imported: afterwards it is either fully stored and
    marked imported, or none of its messages is stored and it is not marked. The moments are
    seeded: three inside the insert, one between the last row and COMMIT, one after it."""
    rng = random.Random(14)
    moments = sorted(rng.randrange(ARCHIVE_MESSAGES) for _ in range(3))
    moments += [ARCHIVE_MESSAGES, ARCHIVE_MESSAGES + 1]  # source exhausted; import returned
    expected = {archive_message(i).hash for i in range(ARCHIVE_MESSAGES)}
    tests_dir = str(Path(__file__).resolve().parent)
    outcomes = []
    for round_, at in enumerate(moments):
        path = tmp_path / f"member-{round_}.sqlite"
        with Store(path) as store:
            recorded(store, 1)
            store.save_waku_messages([msg(5), msg(6)])  # earlier history must survive as is
        args = [tests_dir, str(path), str(ARCHIVE_MESSAGES), str(at)]
        with subprocess.Popen(
            [sys.executable, "-c", _IMPORTER, *args], stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None
            marker = child.stdout.readline().split()
            assert marker[:1] == ["done" if at > ARCHIVE_MESSAGES else "at"], marker
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        with contextlib.closing(raw(path)) as c:  # recovers the WAL, as any reader would
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with Store(path, create=False) as store:
            hashes = store.message_hashes() - {msg(5).hash, msg(6).hash}
            done = aid(1) in imported(store)
            assert store.count_waku_messages() - len(hashes) == 2
            if hashes == expected and done:
                outcome = "both"
            elif not hashes and not done:
                outcome = "neither"
            else:
                outcome = f"torn: {len(hashes)} messages stored, imported={done}"
            assert outcome in ("both", "neither"), f"killed at {at}: {outcome}"
            outcomes.append(done)
            if at > ARCHIVE_MESSAGES:
                assert done  # killed after import_archive returned: committed
            elif at < ARCHIVE_MESSAGES // 2:
                assert not done  # half an archive's rows to go: far from COMMIT
    assert outcomes.count(False) >= 1 and outcomes.count(True) >= 1


def test_an_accepted_link_is_kept_with_its_clock_until_marked_seen(tmp_path: Path) -> None:
    with Store(tmp_path / "node.sqlite") as s:
        s.accept_archive_link(CID, "torrent", "magnet:?xt=2", 9)
        assert s.get_archive_link(CID, "torrent") == ArchiveLinkState("", 9, "magnet:?xt=2")
        s.set_archive_link(CID, "torrent", "magnet:?xt=2")
        s.accept_archive_link(CID, "torrent", "magnet:?xt=3", None)  # a join link: no clock
        assert s.get_archive_link(CID, "torrent") == ArchiveLinkState(
            "magnet:?xt=2", 9, "magnet:?xt=3"
        )
