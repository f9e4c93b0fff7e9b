"""Crash-safe file replacement, shared by the core and the backends: a crash leaves either
the old file or the new one, never a half-written one."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from pathlib import Path

_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_tmp_numbers = itertools.count()
_TMP_NAME = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")  # what _create_tmp names


def _create_tmp(path: Path, dir_mode: int) -> tuple[int, Path]:
    """A new file next to `path`, named `.<name>.<pid>.<n>.tmp` (O_EXCL; unique in the folder:
    a name left by a crashed process of the same pid is skipped). Creates the folder if needed."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_tmp_numbers)}.tmp")
        try:
            return os.open(tmp, _TMP_FLAGS, 0o600), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A file written piece by piece (a download) that appears at `path` whole or not at all:
    a temporary file next to `path`, fsynced, renamed over `path`, the folder fsynced.

        with AtomicFile(dest) as out:
            for chunk in chunks:
                out.write(chunk)
        # a normal exit commits; an exception (or discard()) removes the temporary file

    Async writers call `await asyncio.to_thread(out.commit)` before leaving the block, so the
    fsyncs do not stall the event loop. `mode` applies to the new file (e.g. 0o600 for keys).
    `durable=False` skips both fsyncs (the rename stays atomic, but a crash may leave an empty
    or partial file): only for files whose reader checks them anyway.
    """

    def __init__(
        self, path: Path | str, *, mode: int = 0o644, dir_mode: int = 0o777, durable: bool = True
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        fd, self.tmp = _create_tmp(self.path, dir_mode)
        try:
            os.fchmod(fd, mode)
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.tmp.unlink()
            raise
        self._finished = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._file.write(data)

    def commit(self) -> None:
        """Flush, fsync, rename over `path`, fsync the folder. Idempotent."""
        if self._finished:
            return
        self._finished = True
        try:
            self._file.flush()
            if self.durable:
                os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self._remove_tmp()
            raise
        if self.durable:
            fsync_dir(self.path.parent)

    def discard(self) -> None:
        """Drop what was written; `path` is untouched. Idempotent."""
        if not self._finished:
            self._finished = True
            self._remove_tmp()

    def _remove_tmp(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(
    path: Path | str,
    data: bytes | bytearray | memoryview,
    *,
    mode: int = 0o644,
    dir_mode: int = 0o777,
    durable: bool = True,
) -> None:
    """Write `data` to `path` at once (AtomicFile): a crash leaves the old file or the new one.
    `mode` applies to the new file, `dir_mode` to folders it creates (before the umask);
    `durable=False` skips the fsyncs (see AtomicFile)."""
    with AtomicFile(path, mode=mode, dir_mode=dir_mode, durable=durable) as out:
        out.write(data)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_tmp(root: Path | str) -> list[Path]:
    """Remove the temporary files AtomicFile left under `root` (recursively) when its process
    died before committing or discarding them (kill -9, power loss). A file whose process is
    still running (another command on the same folder, a local node) is left alone. Returns
    what was removed; call it at start-up, before anything writes."""
    removed: list[Path] = []
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TMP_NAME.match(name)
            if match is None or pid_alive(int(match.group(1))):
                continue
            path = Path(folder) / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
