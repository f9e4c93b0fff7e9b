"""Link shaping for a scenario, independent of the backend.

Two engines:

- `namespace` (root on Linux, `ip` and `tc` present): every node runs in its own network
  namespace, `<prefix>-<pid>-n<i>`, with one veth into a hub namespace holding a bridge. The
  addresses (10.213.0.0/16) exist only inside namespaces this run created; there is no route
  anywhere else. A node's uplink is a `tbf` on its own veth end, its downlink a `tbf` on the
  hub's end. Latency needs `netem`, which this kernel may lack: then it is reported as not
  applied. Namespaces are deleted on exit (also on SIGTERM), and stale ones of dead runs,
  recognised by the prefix and their pid, are deleted at start.
- `application`: libtorrent's upload/download rate limits (applied to loopback peers too) and
  the local Codex node's whole-node uplink/downlink token buckets. No latency.

`plan_engine` picks one and lists the settings it cannot apply.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from archive_service.errors import ConfigError
from archive_service.fsutil import pid_alive
from archive_service_cli.scenario import Shaping

PREFIX = "asv-scen"
SUBNET = "10.213"
NETNS_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000

# The Codex plugin's backend: `logos-storage`, with `codex` its alias (configs, old links).
STORAGE_BACKEND_NAMES = frozenset({"logos-storage", "codex"})


class ShapingError(ConfigError):
    """The namespace engine was asked for but cannot run here, or a kernel command failed."""


def namespace_support() -> str | None:
    """None when the namespace engine can run here, else the reason it cannot."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not running as root"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    return None


@dataclass(frozen=True)
class EnginePlan:
    engine: str  # "namespace" | "application"
    not_applied: tuple[str, ...] = ()
    why: str = ""


def plan_engine(shaping: Shaping) -> EnginePlan:
    requested = shaping.engine
    unsupported = namespace_support()
    if requested == "namespace" and unsupported:
        raise ShapingError(f"shaping.engine = namespace cannot run: {unsupported}")
    if requested == "application" or unsupported:
        why = "asked for" if requested == "application" else f"namespace engine: {unsupported}"
        skipped = (f"latency_ms={shaping.latency_ms:g} (no latency in the application engine)",)
        return EnginePlan("application", skipped if shaping.latency_ms else (), why)
    return EnginePlan("namespace", (), "root on Linux")


def bytes_per_s(bits_per_s: int | None) -> int | None:
    return None if not bits_per_s else max(bits_per_s // 8, 1)


def application_overrides(
    backend: str, uplink_bps: int | None, downlink_bps: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(backend settings overrides, loopback `shared` entries) that shape one node's line."""
    up, down = bytes_per_s(uplink_bps), bytes_per_s(downlink_bps)
    if backend == "torrent":
        settings: dict[str, Any] = {"limit_local_peers": True}
        if up:
            settings["upload_rate_limit"] = up
        if down:
            settings["download_rate_limit"] = down
        return settings, {}
    if is_storage_backend(backend):
        return {}, {"codex.uplink_bytes_per_s": up, "codex.downlink_bytes_per_s": down}
    return {}, {}


def is_storage_backend(backend: str) -> bool:
    """The Codex / Logos Storage backend, under its name or its old one."""
    return backend in STORAGE_BACKEND_NAMES


def bind_overrides(backend: str, address: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings and `shared` entries that bind a node to its namespace address."""
    if backend == "torrent":
        return {
            "listen_interface": address,
            "peer_hint_host": address,
            "loopback_only": False,
        }, {}
    if is_storage_backend(backend):
        return {}, {"codex.host": address}
    return {}, {}


# namespace engine ---------------------------------------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def _must(*args: str) -> None:
    done = _run(*args)
    if done.returncode != 0:
        raise ShapingError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout}")


def run_namespaces() -> list[str]:
    out = _run("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX + "-")]


def clean_stale() -> list[str]:
    """Delete namespaces of earlier runs whose process is gone; returns their names."""
    removed = []
    for name in run_namespaces():
        try:
            pid = int(name.split("-")[2])
        except (IndexError, ValueError):
            pid = -1
        if pid != os.getpid() and not pid_alive(pid):
            _run("ip", "netns", "delete", name)
            removed.append(name)
    return removed


def _tbf(namespace: str, device: str, bits_per_s: int, parent: tuple[str, ...]) -> None:
    burst = max(bits_per_s // 8 // 50, 16_000)  # 20 ms of the rate, at least 10 MTUs
    _must(
        "tc", "-n", namespace, "qdisc", "add", "dev", device, *parent, "tbf",
        "rate", f"{bits_per_s}bit", "burst", str(burst), "latency", "200ms",
    )  # fmt: skip


@dataclass
class NamespaceNet:
    """The namespaces of one run: a hub with a bridge, and one namespace per node."""

    shaping: Shaping
    hub: str = field(init=False)
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (netns, address)
    not_applied: list[str] = field(default_factory=list)
    stale_removed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hub = f"{PREFIX}-{os.getpid()}-hub"

    def __enter__(self) -> NamespaceNet:
        self.stale_removed = clean_stale()
        atexit.register(self.close)
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: Any) -> None:
            self.close()
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(128 + signum)

        self._previous_sigterm: Any = None
        with contextlib.suppress(ValueError):  # not the main thread: atexit still cleans up
            signal.signal(signal.SIGTERM, on_term)
            self._previous_sigterm = previous
        _must("ip", "netns", "add", self.hub)
        _must("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        _must("ip", "-n", self.hub, "link", "set", "br0", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_node(self, name: str, role: str) -> tuple[str, str]:
        """A namespace for node `name`, shaped for `role`: (netns, address)."""
        index = len(self.nodes) + 1
        netns = f"{PREFIX}-{os.getpid()}-n{index}"
        address = f"{SUBNET}.{index // 250}.{index % 250 + 2}"
        hub_end = f"vh{index}"
        _must("ip", "netns", "add", netns)
        _must("ip", "-n", self.hub, "link", "add", hub_end, "type", "veth",
              "peer", "name", "eth0", "netns", netns)  # fmt: skip
        _must("ip", "-n", self.hub, "link", "set", hub_end, "master", "br0", "up")
        _must("ip", "-n", netns, "addr", "add", f"{address}/16", "dev", "eth0")
        _must("ip", "-n", netns, "link", "set", "eth0", "up")
        _must("ip", "-n", netns, "link", "set", "lo", "up")
        uplink, downlink = self.shaping.for_role(role)
        parent = ("root",)
        if self.shaping.latency_ms:
            delay = f"{self.shaping.latency_ms:g}ms"
            tried = _run("tc", "-n", netns, "qdisc", "add", "dev", "eth0", "root",
                         "handle", "1:", "netem", "delay", delay)  # fmt: skip
            if tried.returncode == 0:
                parent = ("parent", "1:")
            elif not self.not_applied:
                self.not_applied.append(
                    f"latency_ms={self.shaping.latency_ms:g} (netem unavailable: "
                    f"{tried.stderr.strip()})"
                )
        if uplink:
            _tbf(netns, "eth0", uplink, parent)
        if downlink:
            _tbf(self.hub, hub_end, downlink, ("root",))
        self.nodes[name] = (netns, address)
        return netns, address

    def close(self) -> None:
        previous = getattr(self, "_previous_sigterm", None)
        if previous is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, previous)
            self._previous_sigterm = None
        for netns, _address in self.nodes.values():
            _run("ip", "netns", "delete", netns)
        self.nodes.clear()
        if self.hub in run_namespaces():
            _run("ip", "netns", "delete", self.hub)


def enter_namespace(netns: str) -> None:
    """Move the calling (single-threaded) process into network namespace `netns`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise ShapingError(f"setns({netns}) failed: {os.strerror(errno)}")
    finally:
        os.close(fd)
