"""CPU time and peak memory of this process and its children, for per-side measurements
(`compare`, benchmarks): a side may run helpers as child processes (a local Codex node), and
their cost belongs to that side."""

from __future__ import annotations

import contextlib
import resource
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ResourceUsage:
    cpu_user: float  # seconds
    cpu_system: float  # seconds
    peak_rss: int  # bytes: the highest sampled RSS sum of the process tree

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system


class ResourceMeter:
    """Samples the process tree every `interval` seconds in a daemon thread.

    CPU is counted from `start()`: this process's own times plus, for each child, the last
    times seen (a child that exits between two samples loses at most one interval). Peak RSS
    is the largest sum over the tree, never below this process's own high-water mark since
    `start()`: Linux's VmHWM, reset at `start()` through /proc/self/clear_refs. Not
    ru_maxrss: Linux carries it over fork and exec, so every side process started from one
    parent (even with spawn) would report that parent's high-water mark.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._proc = psutil.Process()
        self._base = self._proc.cpu_times()
        self._child_base: dict[int, tuple[float, float]] = {}
        self._child_last: dict[int, tuple[float, float]] = {}
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> ResourceMeter:
        _reset_high_water_mark()
        self._base = self._proc.cpu_times()
        for child in self._children():
            times = _times(child)
            if times is not None:
                self._child_base[child.pid] = times
        self._sample()
        self._thread = threading.Thread(target=self._run, name="resource-meter", daemon=True)
        self._thread.start()
        return self

    def _children(self) -> list[psutil.Process]:
        try:
            return self._proc.children(recursive=True)
        except psutil.Error:
            return []

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        rss = self._proc.memory_info().rss
        for child in self._children():
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                continue  # exited between listing and reading
            times = _times(child)
            if times is not None:
                with self._lock:
                    self._child_last[child.pid] = times
        self._peak = max(self._peak, rss)

    def usage(self) -> ResourceUsage:
        """Usage so far (the meter keeps running)."""
        self._sample()
        now = self._proc.cpu_times()
        user, system = now.user - self._base.user, now.system - self._base.system
        with self._lock:
            for pid, (u, s) in self._child_last.items():
                bu, bs = self._child_base.get(pid, (0.0, 0.0))
                user += u - bu
                system += s - bs
        return ResourceUsage(user, system, max(self._peak, _self_high_water_mark()))

    def stop(self) -> ResourceUsage:
        usage = self.usage()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return usage

    def __enter__(self) -> ResourceMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def _times(proc: psutil.Process) -> tuple[float, float] | None:
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return None
    return t.user, t.system


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_high_water_mark() -> None:
    """Start VmHWM again from the current RSS ("5": reset the peak RSS), where supported."""
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def _self_high_water_mark() -> int:
    """This process's own peak RSS: VmHWM (since exec or the last reset) where /proc has it,
    else ru_maxrss (KiB on Linux, bytes on macOS)."""
    with contextlib.suppress(OSError, ValueError):
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
