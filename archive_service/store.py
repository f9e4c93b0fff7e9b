"""SQLite persistence with status-go's tables (reference §3) plus what the manager needs.

One apsw connection shared by asyncio code and worker threads, serialised by an RLock; WAL so
readers in other processes are not blocked; schema versions by `PRAGMA user_version`. apsw
bundles a newer SQLite than the standard library's and inserts faster; the files it writes stay
readable by the standard `sqlite3` module (no newer file-format feature is used).
Encodings follow status-go: community_id = '0x' + hex, waku_messages.topic = '0x' + 8 hex,
waku_messages.hash = hex without '0x', archive IDs = '0x' + 64 hex.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from archive_service.errors import StoreError
from archive_service.ids import community_hex, topic_hex
from archive_service.types import DownloadedArchive, StoredMessage


@dataclass(frozen=True)
class Community:
    id: bytes  # 33-byte compressed public key
    joined: bool = True
    encrypted: bool = False
    archives_enabled: bool = True
    private_key: bytes | None = None  # 32 bytes on the control node (owner), else None
    chat_ids: tuple[str, ...] = ()

    @property
    def is_control_node(self) -> bool:
        return self.private_key is not None


@dataclass(frozen=True)
class ArchiveLinkState:
    link: str = ""
    clock: int = 0
    # Member: the last link accepted for download, recorded with its clock before the download
    # starts, so a node killed before the link is marked seen (`link`) resumes it at start.
    accepted: str = ""


# Each step runs in one transaction and bumps user_version by one. Append only; never edit a
# released step (databases in the field have already run it).
_MIGRATIONS: list[str] = [
    # 1: status-go's tables as of V3 (§3) with this project's extra columns and tables.
    """
    CREATE TABLE waku_messages (
        sig BLOB NOT NULL,
        timestamp INT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        padding BLOB NOT NULL,
        hash TEXT PRIMARY KEY NOT NULL,
        third_party_id TEXT DEFAULT ""
    );
    CREATE INDEX waku_messages_timestamp_topic ON waku_messages (timestamp, topic);

    CREATE TABLE communities (
        id TEXT PRIMARY KEY NOT NULL,
        private_key BLOB,
        joined BOOL NOT NULL DEFAULT TRUE,
        encrypted BOOL NOT NULL DEFAULT FALSE
    );
    CREATE TABLE community_chats (
        community_id TEXT NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
        chat_id TEXT NOT NULL,
        position INT NOT NULL,
        PRIMARY KEY (community_id, chat_id)
    );
    -- status-go mirrors one flag (HistoryArchiveSupportEnabled) into both columns.
    CREATE TABLE communities_settings (
        community_id TEXT PRIMARY KEY NOT NULL,
        message_archive_seeding_enabled BOOLEAN DEFAULT FALSE,
        message_archive_fetching_enabled BOOLEAN DEFAULT FALSE
    );

    -- V3 columns; written only by upserts (never ON CONFLICT REPLACE, §11.5). The link and
    -- clock here are the latest over all backends; per-backend values are in the next table.
    CREATE TABLE communities_archive_info (
        community_id TEXT PRIMARY KEY,
        archive_link_clock INT NOT NULL DEFAULT 0,
        last_message_archive_end_date INT NOT NULL DEFAULT 0,
        last_archive_link TEXT DEFAULT ""
    );
    CREATE TABLE communities_archive_links (
        community_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT "",
        clock INT NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, backend)
    );

    CREATE TABLE community_message_archive_hashes (
        community_id TEXT NOT NULL,
        hash TEXT PRIMARY KEY NOT NULL,
        imported BOOL DEFAULT FALSE,
        backend TEXT NOT NULL DEFAULT "",
        from_ts INT NOT NULL DEFAULT 0,
        to_ts INT NOT NULL DEFAULT 0,
        link TEXT NOT NULL DEFAULT ""
    );
    CREATE INDEX community_message_archive_hashes_community
        ON community_message_archive_hashes (community_id, imported);

    CREATE TABLE hash_ratchet_encryption (
        group_id BLOB NOT NULL,
        key_id BLOB NOT NULL UNIQUE,
        key_timestamp INT NOT NULL,
        deprecated_key_id INT NOT NULL,
        key BLOB NOT NULL,
        PRIMARY KEY (group_id, key_id)
    );
    CREATE TABLE hash_ratchet_encryption_cache (
        group_id BLOB NOT NULL,
        key_id BLOB NOT NULL,
        seq_no INT NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (key_id, seq_no)
    );
    """,
    # 2: the link a member accepted, before it is downloaded and marked seen.
    """
    ALTER TABLE communities_archive_links ADD COLUMN accepted_link TEXT NOT NULL DEFAULT "";
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)

# A waku_messages row in column order, already in the stored encodings (topic '0x' + 8 hex,
# hash hex without '0x'): sig, timestamp, topic, payload, padding, hash, third_party_id.
# Blobs may be bytearrays (apsw binds any buffer).
WakuRow = tuple[
    bytes | bytearray, int, str, bytes | bytearray, bytes | bytearray, str, str
]  # fmt: skip
_INSERT_WAKU_ROW = (
    "INSERT OR IGNORE INTO waku_messages "
    "(sig, timestamp, topic, payload, padding, hash, third_party_id) VALUES (?,?,?,?,?,?,?)"
)
# Rows per keyset page of iter_waku_messages, and the bytes after which a page ends early
# (media payloads can be megabytes): memory stays bounded whatever the history size.
_PAGE_ROWS = 4096
_PAGE_BYTES = 16 * 1024 * 1024
_WAL_AUTOCHECKPOINT = 1000  # pages, SQLite's default
_PAGE_SIZE = 16384
# bulk_load's fast path: page cache for ~this many bytes per row to load (the primary-key
# index takes ~80; the rest is headroom for table pages in flight), and how often its flusher
# thread syncs what SQLite has written so far.
_INDEX_BYTES_PER_ROW = 120
_FLUSH_SECONDS = 0.2
_SORTER_THREADS = 2  # helper threads of SQLite's sorter when bulk_load rebuilds indexes
_BUSY_TIMEOUT_MS = 10_000  # how long a write waits for another connection's lock


def _waku_rows(messages: Iterable[StoredMessage]) -> Iterator[WakuRow]:
    """Messages as waku_messages rows in the stored encodings, lazily."""
    return (
        (m.sig, m.timestamp, topic_hex(m.topic), m.payload, m.padding, m.hash.hex(),
         m.third_party_id)
        for m in messages
    )  # fmt: skip


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _topic_list(topics: Sequence[bytes]) -> list[str]:
    return [topic_hex(t) for t in topics]


class Store:
    def __init__(self, path: Path | str, *, create: bool = True, cache_mb: int = 32) -> None:
        """Open (and migrate) the database; create=False raises StoreError if it is missing.

        `cache_mb` bounds SQLite's page cache (memory does not grow with the history); bulk
        writers pass more, because random message hashes make the primary-key index the hot
        spot of inserts."""
        self.path = Path(path)
        # Only a database this Store creates may take bulk_load's fast path.
        self._created = not self.path.exists()
        self._in_load = False  # inside bulk_load's single transaction (fast path)
        self._flush_fds: list[int] = []  # see _Flusher
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"database {self.path} does not exist; run `archive-service generate` "
                    "or pass --db"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create directory for database {self.path}: {exc}"
                ) from None
        self._lock = threading.RLock()
        self._cache_mb = max(int(cache_mb), 1)
        try:
            # apsw opens no implicit transactions: every one is explicit (see _write).
            self._conn = apsw.Connection(str(self.path))
            self._conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
        except apsw.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            self._configure()
            self._migrate()
        except apsw.Error as exc:
            self._conn.close()
            raise StoreError(
                f"{self.path} is not a usable archive-service database ({exc}); "
                "pass --db with another path or move the file away"
            ) from None
        except StoreError:
            self._conn.close()
            raise

    def _configure(self) -> None:
        c = self._conn
        # 16 KiB pages in a new database (an existing one keeps its own): messages are ~1 KB
        # with 100 KB media, and a bulk load then makes 4x fewer write calls, shallower B-trees
        # (~20% of `generate`'s insert time at 4 KiB). Set before WAL fixes the page size.
        c.execute(f"PRAGMA page_size={_PAGE_SIZE}")
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"database {self.path} cannot use WAL journaling (got {mode!r})")
        # NORMAL is durable against process crashes in WAL mode; a power loss may drop the last
        # commits but never corrupts the file.
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA foreign_keys=ON")
        c.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        c.execute(f"PRAGMA cache_size={-1024 * self._cache_mb}")  # negative: KiB

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {version}, newer than this "
                    f"archive-service understands ({SCHEMA_VERSION}); upgrade archive-service "
                    "or pass --db with another database"
                )
            for step in range(version, SCHEMA_VERSION):
                # executescript would COMMIT on its own; run statements one by one instead so
                # the step and its version bump are one transaction.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(_MIGRATIONS[step]):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version={step + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            for fd in self._flush_fds:
                os.close(fd)
            self._flush_fds.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._row("PRAGMA user_version")[0])

    @property
    def journal_mode(self) -> str:
        return str(self._row("PRAGMA journal_mode")[0])

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """For bulk loads: no WAL checkpoint after each commit (each would copy the same hot
        index pages again), one at the end. Every commit stays atomic and durable in the WAL."""
        with self._read() as c:
            c.execute("PRAGMA wal_autocheckpoint=0")
        try:
            yield
        finally:
            with self._read() as c:
                c.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT}")
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def bulk_load(self, rows: int = 0) -> Iterator[bool]:
        """For filling the store with about `rows` messages; yields whether the fast path is
        taken.

        Fast path, only for a database this Store created and that holds no row yet: the whole
        load is ONE transaction with a rollback journal instead of WAL. WAL writes every page
        twice (log, then checkpoint), and per-batch commits rewrite the hot primary-key index
        pages each time. The journal holds only the pages that existed before the load (the
        empty schema), so it stays tiny, yet a crash or an error at any point rolls the file
        back to the empty store. The page cache is sized for the primary-key index (within
        cache_mb): table pages are written once, and every dirty page still cached is written
        and fsynced by the final commit, after the load. A thread syncs the file as the load
        goes for the same reason. waku_messages' secondary indexes are dropped for the load and
        rebuilt before the commit (so timestamp queries inside the load fail). Then the
        database is back in WAL mode. The Store's lock is held throughout: another thread's
        write would otherwise join the load's transaction.

        Any other database (something is stored already, or another connection has it open)
        gets bulk_writes(): every save_* stays its own committed transaction.
        """
        with self._lock:
            if self._begin_fresh_load():
                c = self._conn
                load_kib = (rows * _INDEX_BYTES_PER_ROW >> 10) + 16 * 1024
                c.execute(f"PRAGMA cache_size={-min(load_kib, 1024 * self._cache_mb)}")
                flusher = _Flusher(self)
                try:
                    c.execute("BEGIN EXCLUSIVE")
                    indexes = self._drop_message_indexes()
                    self._in_load = True
                    yield True
                    self._in_load = False
                    # The load's dirty pages go to the file now (as a spill would: the journal
                    # still rolls them back), and the flusher syncs them while the indexes are
                    # built: the commit is left to write and sync only the new index pages.
                    c.cache_flush()
                    flusher.sync_now()
                    for sql in indexes:
                        c.execute(sql)
                    c.execute("COMMIT")  # synchronous=NORMAL: fsyncs
                except BaseException as exc:
                    self._in_load = False
                    if c.in_transaction:
                        # If even this fails, the journal is left hot: the next open rolls back.
                        with contextlib.suppress(apsw.Error):
                            c.execute("ROLLBACK")
                    if isinstance(exc, apsw.Error):
                        raise StoreError(f"bulk load into {self.path} failed: {exc}") from None
                    raise
                finally:
                    flusher.stop()
                    c.execute(f"PRAGMA cache_size={-1024 * self._cache_mb}")
                    c.execute("PRAGMA journal_mode=WAL")
                return
        with self.bulk_writes():
            yield False

    def _drop_message_indexes(self) -> list[str]:
        """Drop waku_messages' secondary indexes inside the fast path's transaction; returns
        the statements that recreate them exactly. Built once after the load, from sorted keys
        (the sorter uses a second core), they cost less than maintaining them row by row. The
        primary-key index cannot be dropped, and a rollback brings the dropped ones back."""
        c = self._conn
        indexes = c.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'waku_messages' AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            c.execute(f'DROP INDEX "{name}"')
        c.execute(f"PRAGMA threads={_SORTER_THREADS}")
        return [sql for _name, sql in indexes]

    def _begin_fresh_load(self) -> bool:
        """Leave WAL for bulk_load's fast path, if this is a new and empty database that no
        other connection uses."""
        c = self._conn
        if not self._created:
            return False
        tables = [
            name
            for (name,) in c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        if any(c.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0] for t in tables):
            return False
        try:
            # Leaving WAL needs the only connection to the database, else this fails.
            mode = c.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except apsw.Error:  # SQLITE_BUSY / LOCKED: another connection has it open
            return False
        if str(mode).lower() != "delete":
            c.execute("PRAGMA journal_mode=WAL")
            return False
        return True

    # transactions ----------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[apsw.Connection]:
        """One atomic write transaction; sqlite errors become StoreError. Inside bulk_load's
        fast path, part of its one transaction instead (which rolls back as a whole)."""
        with self._lock:
            if self._in_load:
                try:
                    yield self._conn
                except apsw.Error as exc:
                    raise StoreError(f"write to database {self.path} failed: {exc}") from None
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise StoreError(f"cannot write to database {self.path}: {exc}") from None
            try:
                yield self._conn
            except apsw.Error as exc:
                self._rollback()
                raise StoreError(f"write to database {self.path} failed: {exc}") from None
            except BaseException:
                self._rollback()
                raise
            else:
                self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        # Some errors (SQLITE_FULL, IOERR, NOMEM) make SQLite roll back on its own already.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[apsw.Connection]:
        with self._lock:
            try:
                yield self._conn
            except apsw.Error as exc:
                raise StoreError(f"read from database {self.path} failed: {exc}") from None

    def _row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row a read returns, or None."""
        with self._read() as c:
            return c.execute(sql, params).fetchone()

    # waku_messages ------------------------------------------------------------------------
    def save_waku_messages(self, messages: Iterable[StoredMessage]) -> int:
        """Insert, deduplicated by message hash; returns how many were new."""
        return self.save_waku_rows(_waku_rows(messages))

    def save_waku_rows(self, rows: Iterable[WakuRow]) -> int:
        """save_waku_messages for rows already in the stored encodings (see WakuRow), so bulk
        writers can prepare them elsewhere; returns how many were new."""
        with self._write() as c:
            return self._insert_rows(c, rows)

    @staticmethod
    def _insert_rows(c: apsw.Connection, rows: Iterable[WakuRow]) -> int:
        """INSERT OR IGNORE the rows inside the caller's transaction; how many were new."""
        before = c.total_changes()
        c.executemany(_INSERT_WAKU_ROW, rows)
        return c.total_changes() - before

    def iter_waku_messages(
        self, topics: Sequence[bytes], from_ts: int, to_ts: int
    ) -> Iterator[StoredMessage]:
        """Streaming GetWakuMessagesByFilterTopic: from_ts <= timestamp < to_ts, by timestamp.

        Keyset pages in the order of the (timestamp, topic) index (then rowid): no statement
        stays open between yields, so the lock is free for other threads while the consumer
        works, and an abandoned iterator holds no read snapshot.
        """
        if not topics or from_ts >= to_ts:
            return
        hexes = _topic_list(topics)
        in_list = _placeholders(len(hexes))
        cols = "rowid, sig, timestamp, topic, payload, padding, hash, third_party_id"
        first = (
            f"SELECT {cols} FROM waku_messages INDEXED BY waku_messages_timestamp_topic "
            f"WHERE timestamp >= ? AND timestamp < ? AND topic IN ({in_list}) "
            "ORDER BY timestamp, topic, rowid LIMIT ?"
        )
        following = (
            f"SELECT {cols} FROM waku_messages INDEXED BY waku_messages_timestamp_topic "
            f"WHERE (timestamp, topic, rowid) > (?, ?, ?) AND timestamp < ? "
            f"AND topic IN ({in_list}) ORDER BY timestamp, topic, rowid LIMIT ?"
        )
        key: tuple[int, str, int] | None = None
        topic_bytes = {h: bytes(t) for h, t in zip(hexes, topics, strict=True)}
        new_message = StoredMessage._make
        while True:
            rows: list[tuple[int, bytes, int, str, bytes, bytes, str, str | None]] = []
            with self._read() as c:
                if key is None:
                    cur = c.execute(first, (from_ts, to_ts, *hexes, _PAGE_ROWS))
                else:
                    cur = c.execute(following, (*key, to_ts, *hexes, _PAGE_ROWS))
                size = 0
                full = True
                try:
                    for row in cur:
                        rows.append(row)
                        size += len(row[4]) + len(row[1])  # payload + sig
                        if size >= _PAGE_BYTES:
                            break
                    else:
                        full = len(rows) >= _PAGE_ROWS
                finally:
                    cur.close()
            if not rows:
                return
            last = rows[-1]
            key = (last[2], last[3], last[0])
            # Conversion happens outside the lock; the IN filter guarantees the topic is known.
            for _rowid, sig, ts, topic, payload, padding, hash_, tpid in rows:
                yield new_message(
                    (
                        sig,
                        ts,
                        topic_bytes[topic],
                        payload,
                        padding,
                        bytes.fromhex(hash_),
                        tpid or "",
                    )
                )
            del rows
            if not full:
                return

    def _min_max(self, func: str, topics: Sequence[bytes]) -> int:
        if not topics:
            return 0
        hexes = _topic_list(topics)
        row = self._row(
            f"SELECT {func}(timestamp) FROM waku_messages "
            f"WHERE topic IN ({_placeholders(len(hexes))})",
            hexes,
        )
        return int(row[0] or 0)

    def oldest_message_timestamp(self, topics: Sequence[bytes]) -> int:
        """MIN(timestamp) over the topics; 0 when there is none (as status-go)."""
        return self._min_max("MIN", topics)

    def latest_message_timestamp(self, topics: Sequence[bytes]) -> int:
        """MAX(timestamp) over the topics; 0 when there is none (as status-go)."""
        return self._min_max("MAX", topics)

    def count_waku_messages(self, topics: Sequence[bytes] | None = None) -> int:
        if topics is None:
            return int(self._row("SELECT COUNT(*) FROM waku_messages")[0])
        hexes = _topic_list(topics)
        row = self._row(
            f"SELECT COUNT(*) FROM waku_messages WHERE topic IN ({_placeholders(len(hexes))})",
            hexes,
        )
        return int(row[0])

    def message_hashes(self, topics: Sequence[bytes] | None = None) -> set[bytes]:
        with self._read() as c:
            if topics is None:
                cur = c.execute("SELECT hash FROM waku_messages")
            else:
                hexes = _topic_list(topics)
                cur = c.execute(
                    f"SELECT hash FROM waku_messages WHERE topic IN ({_placeholders(len(hexes))})",
                    hexes,
                )
            return {bytes.fromhex(h) for (h,) in cur}

    # communities ---------------------------------------------------------------------------
    def save_community(self, community: Community) -> None:
        """Insert or update the community; its chat list is replaced by `community.chat_ids`."""
        cid = community_hex(community.id)
        enabled = bool(community.archives_enabled)
        with self._write() as c:
            c.execute(
                "INSERT INTO communities (id, private_key, joined, encrypted) VALUES (?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET private_key = excluded.private_key, "
                "joined = excluded.joined, encrypted = excluded.encrypted",
                (cid, community.private_key, bool(community.joined), bool(community.encrypted)),
            )
            c.execute(
                "INSERT INTO communities_settings (community_id, "
                "message_archive_seeding_enabled, message_archive_fetching_enabled) "
                "VALUES (?,?,?) ON CONFLICT(community_id) DO UPDATE SET "
                "message_archive_seeding_enabled = excluded.message_archive_seeding_enabled, "
                "message_archive_fetching_enabled = excluded.message_archive_fetching_enabled",
                (cid, enabled, enabled),
            )
            c.execute("DELETE FROM community_chats WHERE community_id = ?", (cid,))
            c.executemany(
                "INSERT OR IGNORE INTO community_chats (community_id, chat_id, position) "
                "VALUES (?,?,?)",
                [(cid, chat, i) for i, chat in enumerate(community.chat_ids)],
            )

    def _communities(self, where: str, args: Sequence[object]) -> list[Community]:
        with self._read() as c:
            rows = c.execute(
                "SELECT c.id, c.private_key, c.joined, c.encrypted, "
                "COALESCE(s.message_archive_seeding_enabled, TRUE) "
                "FROM communities c LEFT JOIN communities_settings s ON s.community_id = c.id "
                f"{where} ORDER BY c.id",
                args,
            ).fetchall()
            out = []
            for cid, private_key, joined, encrypted, enabled in rows:
                chats = tuple(
                    chat
                    for (chat,) in c.execute(
                        "SELECT chat_id FROM community_chats WHERE community_id = ? "
                        "ORDER BY position",
                        (cid,),
                    )
                )
                out.append(
                    Community(
                        id=bytes.fromhex(cid[2:]),
                        joined=bool(joined),
                        encrypted=bool(encrypted),
                        archives_enabled=bool(enabled),
                        private_key=private_key,
                        chat_ids=chats,
                    )
                )
            return out

    def get_community(self, community_id: bytes) -> Community | None:
        found = self._communities("WHERE c.id = ?", (community_hex(community_id),))
        return found[0] if found else None

    def list_communities(self) -> list[Community]:
        return self._communities("", ())

    # archive info (per community; links and clocks per backend kind) -------------------------
    def _info_column(self, community_id: bytes, column: str) -> int | str | None:
        row = self._row(
            f"SELECT {column} FROM communities_archive_info WHERE community_id = ?",
            (community_hex(community_id),),
        )
        return None if row is None else row[0]

    def _upsert_info(self, c: apsw.Connection, cid: str, column: str, value: object) -> None:
        # V3 semantics: only the targeted column changes (never V0's whole-row REPLACE, §11.5).
        c.execute(
            f"INSERT INTO communities_archive_info (community_id, {column}) VALUES (?, ?) "
            f"ON CONFLICT(community_id) DO UPDATE SET {column} = excluded.{column}",
            (cid, value),
        )

    def _upsert_link(
        self, c: apsw.Connection, cid: str, backend: str, column: str, value: object
    ) -> None:
        # Only the targeted column of the (community, backend) row changes.
        c.execute(
            f"INSERT INTO communities_archive_links (community_id, backend, {column}) "
            f"VALUES (?,?,?) ON CONFLICT(community_id, backend) DO UPDATE SET "
            f"{column} = excluded.{column}",
            (cid, backend, value),
        )

    def get_last_archive_end_date(self, community_id: bytes) -> int:
        """Unix seconds the last create run covered up to; 0 when none."""
        value = self._info_column(community_id, "last_message_archive_end_date")
        return int(value or 0)

    def set_last_archive_end_date(self, community_id: bytes, end_ts: int) -> None:
        with self._write() as c:
            self._upsert_info(
                c, community_hex(community_id), "last_message_archive_end_date", end_ts
            )

    def get_archive_link(self, community_id: bytes, backend: str) -> ArchiveLinkState:
        """The last link seen (member) or published (owner) through `backend`, and its clock."""
        row = self._row(
            "SELECT link, clock, accepted_link FROM communities_archive_links "
            "WHERE community_id = ? AND backend = ?",
            (community_hex(community_id), backend),
        )
        if row is None:
            return ArchiveLinkState()
        return ArchiveLinkState(row[0] or "", int(row[1]), row[2] or "")

    def set_archive_link(self, community_id: bytes, backend: str, link: str) -> None:
        """Per-backend upsert; communities_archive_info.last_archive_link follows the last write
        so a status-go-shaped reader still sees the latest link."""
        cid = community_hex(community_id)
        with self._write() as c:
            self._upsert_link(c, cid, backend, "link", link)
            self._upsert_info(c, cid, "last_archive_link", link)

    def accept_archive_link(
        self, community_id: bytes, backend: str, link: str, clock: int | None
    ) -> None:
        """Member: record `link` as accepted for download through `backend` (and its clock, when
        it came in a signed message) in one transaction, before the download starts."""
        cid = community_hex(community_id)
        with self._write() as c:
            self._upsert_link(c, cid, backend, "accepted_link", link)
            if clock is not None:
                self._set_link_clock(c, cid, backend, clock)

    def rename_backend(self, old: str, new: str) -> int:
        """Rows recorded under backend name `old` are found under `new` from now on (a backend
        renamed, its old name kept as an alias); one transaction, idempotent. A row already
        under `new` wins. Returns how many rows moved."""
        with self._write() as c:
            before = c.total_changes()
            for table in ("communities_archive_links", "community_message_archive_hashes"):
                c.execute(f"UPDATE OR IGNORE {table} SET backend = ? WHERE backend = ?", (new, old))
            return c.total_changes() - before

    def set_archive_link_clock(self, community_id: bytes, backend: str, clock: int) -> None:
        """Per-backend upsert of the link clock; communities_archive_info.archive_link_clock
        keeps the highest clock over all backends."""
        with self._write() as c:
            self._set_link_clock(c, community_hex(community_id), backend, clock)

    def _set_link_clock(self, c: apsw.Connection, cid: str, backend: str, clock: int) -> None:
        self._upsert_link(c, cid, backend, "clock", clock)
        c.execute(
            "INSERT INTO communities_archive_info (community_id, archive_link_clock) "
            "VALUES (?, ?) ON CONFLICT(community_id) DO UPDATE SET archive_link_clock = "
            "MAX(archive_link_clock, excluded.archive_link_clock)",
            (cid, clock),
        )

    # downloaded / imported archive IDs ------------------------------------------------------
    def save_archive_id(
        self,
        community_id: bytes,
        archive_id: str,
        *,
        backend: str,
        from_ts: int,
        to_ts: int,
        link: str = "",
    ) -> None:
        """Idempotent (a second save of the same ID is not an error, unlike status-go)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO community_message_archive_hashes "
                "(community_id, hash, imported, backend, from_ts, to_ts, link) "
                "VALUES (?,?,FALSE,?,?,?,?) ON CONFLICT(hash) DO NOTHING",
                (community_hex(community_id), archive_id, backend, from_ts, to_ts, link),
            )

    def has_archive_id(self, community_id: bytes, archive_id: str) -> bool:
        row = self._row(
            "SELECT 1 FROM community_message_archive_hashes WHERE community_id = ? AND hash = ?",
            (community_hex(community_id), archive_id),
        )
        return row is not None

    def _archives(self, community_id: bytes, extra: str) -> list[DownloadedArchive]:
        with self._read() as c:
            rows = c.execute(
                "SELECT hash, backend, from_ts, to_ts, imported, link "
                "FROM community_message_archive_hashes WHERE community_id = ? "
                f"{extra} ORDER BY from_ts DESC, to_ts DESC, hash",
                (community_hex(community_id),),
            ).fetchall()
        return [
            DownloadedArchive(h, b or "", int(f), int(t), bool(i), link or "")
            for h, b, f, t, i, link in rows
        ]

    def downloaded_archives(self, community_id: bytes) -> list[DownloadedArchive]:
        """Every recorded archive of the community, newest window first."""
        return self._archives(community_id, "")

    def archives_to_import(self, community_id: bytes) -> list[DownloadedArchive]:
        """Not yet imported, newest window first."""
        return self._archives(community_id, "AND NOT imported")

    def set_archive_imported(
        self, community_id: bytes, archive_id: str, imported: bool = True
    ) -> None:
        """For hosts that import an archive's messages themselves; the embedded importer uses
        import_archive, which stores the messages and sets the flag in one transaction."""
        with self._write() as c:
            self._mark_imported(c, community_id, archive_id, imported, "set_archive_imported")

    def import_archive(
        self, community_id: bytes, archive_id: str, messages: Iterable[StoredMessage]
    ) -> int:
        """Store one archive's messages (deduplicated by hash) and mark the archive imported,
        in ONE transaction: after a crash at any point either both happened or neither.
        Returns how many messages were new. The archive must have been recorded
        (save_archive_id); importing it again stores nothing new."""
        with self._write() as c:
            # Marked first: an unrecorded archive fails before any message is written.
            self._mark_imported(c, community_id, archive_id, True, "import_archive")
            return self._insert_rows(c, _waku_rows(messages))

    @staticmethod
    def _mark_imported(
        c: apsw.Connection, community_id: bytes, archive_id: str, imported: bool, caller: str
    ) -> None:
        c.execute(
            "UPDATE community_message_archive_hashes SET imported = ? "
            "WHERE community_id = ? AND hash = ?",
            (bool(imported), community_hex(community_id), archive_id),
        )
        if c.changes() == 0:
            raise StoreError(
                f"archive {archive_id} of community {community_hex(community_id)} was never "
                f"recorded; save_archive_id must come before {caller}"
            )

    # hash-ratchet keys and cache (status-go hash_ratchet_encryption{,_cache}) ----------------
    def save_group_key(self, group_id: bytes, key_id: bytes, timestamp_ms: int, key: bytes) -> None:
        """Idempotent per key_id; deprecated_key_id is uint32(timestamp) as in status-go."""
        with self._write() as c:
            c.execute(
                "INSERT INTO hash_ratchet_encryption "
                "(group_id, key_id, key_timestamp, deprecated_key_id, key) VALUES (?,?,?,?,?) "
                "ON CONFLICT DO NOTHING",
                (group_id, key_id, timestamp_ms, timestamp_ms & 0xFFFFFFFF, key),
            )

    def group_keys(self, group_id: bytes) -> list[tuple[bytes, int, bytes]]:
        """(key_id, timestamp_ms, key), oldest first."""
        with self._read() as c:
            rows = c.execute(
                "SELECT key_id, key_timestamp, key FROM hash_ratchet_encryption "
                "WHERE group_id = ? ORDER BY key_timestamp, key_id",
                (group_id,),
            ).fetchall()
        return [(bytes(k), int(t), bytes(key)) for k, t, key in rows]

    def group_key_by_id(self, key_id: bytes) -> tuple[bytes, int, bytes] | None:
        """(group_id, timestamp_ms, key)"""
        row = self._row(
            "SELECT group_id, key_timestamp, key FROM hash_ratchet_encryption WHERE key_id = ?",
            (key_id,),
        )
        return None if row is None else (bytes(row[0]), int(row[1]), bytes(row[2]))

    def save_ratchet_step(self, key_id: bytes, seq_no: int, hash_: bytes) -> None:
        self.save_ratchet_steps(key_id, [(seq_no, hash_)])

    def save_ratchet_steps(self, key_id: bytes, steps: Iterable[tuple[int, bytes]]) -> None:
        """Cache (seq_no, hash) steps of one key in one transaction: a decryption far ahead
        computes up to 100,000 of them, and a commit each made that minutes of fsyncs. All or
        none are saved. group_id is the key's (empty if the key is unknown), as status-go."""
        with self._write() as c:
            row = c.execute(
                "SELECT group_id FROM hash_ratchet_encryption WHERE key_id = ?", (key_id,)
            ).fetchone()
            group_id = b"" if row is None else row[0]
            c.executemany(
                "INSERT INTO hash_ratchet_encryption_cache (group_id, key_id, seq_no, hash) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key_id, seq_no) DO UPDATE SET hash = excluded.hash",
                ((group_id, key_id, seq_no, hash_) for seq_no, hash_ in steps),
            )

    def _ratchet_step(self, sql: str, args: Sequence[object]) -> tuple[int, bytes] | None:
        with self._read() as c:
            row = c.execute(sql, args).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def ratchet_step_at_or_below(self, key_id: bytes, seq_no: int) -> tuple[int, bytes] | None:
        """The cached (seq_no, hash) closest to `seq_no` from below, to ratchet forward from."""
        return self._ratchet_step(
            "SELECT seq_no, hash FROM hash_ratchet_encryption_cache "
            "WHERE key_id = ? AND seq_no <= ? ORDER BY seq_no DESC LIMIT 1",
            (key_id, seq_no),
        )

    def latest_ratchet_step(self, key_id: bytes) -> tuple[int, bytes] | None:
        return self._ratchet_step(
            "SELECT seq_no, hash FROM hash_ratchet_encryption_cache "
            "WHERE key_id = ? ORDER BY seq_no DESC LIMIT 1",
            (key_id,),
        )


class _Flusher:
    """Flushes a Store's database file to disk every FLUSH_SECONDS (or at once, sync_now) from a
    thread, so the disk writes while the bulk load computes. Its descriptor stays open until
    Store.close(): closing any descriptor of a file drops every POSIX lock this process holds on
    it, SQLite's too."""

    def __init__(self, store: Store) -> None:
        self._fd = os.open(store.path, os.O_RDONLY)
        store._flush_fds.append(self._fd)
        self._stopped = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
        while True:
            self._wake.wait(_FLUSH_SECONDS)
            self._wake.clear()
            if self._stopped:
                return
            try:
                sync(self._fd)
            except OSError:
                return  # only an optimisation: the commit's own fsync reports real errors

    def sync_now(self) -> None:
        """Start a flush now instead of at the next interval (returns without waiting)."""
        self._wake.set()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        self._thread.join()


def _split_sql(script: str) -> list[str]:
    """The statements of a migration script, split where SQLite sees a complete statement."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if apsw.complete(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
