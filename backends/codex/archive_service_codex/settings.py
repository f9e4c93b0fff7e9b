"""Settings of the Logos Storage (formerly Codex) backend (`[backend.logos-storage]` in the
config file, or `[backend.codex]`).

Two ways to get a node:
- default: talk to a Codex node already running at `api_url` (a real nim-codex / Logos Storage
  node or `archive-service codex-node`); `start()` fails with CodexUnavailable if it is down;
- `managed_node.enabled = true`: the backend starts the local Codex-compatible node of
  archive-service-codex-node itself, as a child process (data under
  `<data_dir>/logos-storage/node`, API on a free 127.0.0.1 port) and stops it with the
  backend. That node fetches only from the nodes in `managed_node.bootstrap` or connected
  through `/connect`; it has no DHT (see the simulator's README).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from archive_service_codex.client import DEFAULT_API_URL, ClientTimeouts, RetryPolicy

MiB = 1 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CodexTimeoutSettings(_Strict):
    """Seconds per REST call kind (the member's per-archive, whole-run and index budgets come
    from the core `timeouts` section)."""

    connect: float = Field(5.0, gt=0, description="TCP connect to the node")
    control: float = Field(15.0, gt=0, description="small calls: exists, delete, space, info")
    upload: float = Field(600.0, gt=0, description="one whole upload")
    network: float = Field(60.0, gt=0, description="a manifest from peers")
    download: float = Field(900.0, gt=0, description="one whole download body")
    idle: float = Field(30.0, gt=0, description="silence between two download chunks")

    def to_client(self) -> ClientTimeouts:
        return ClientTimeouts(**self.model_dump())


class RetrySettings(_Strict):
    attempts: int = Field(3, ge=1, le=20, description="tries of a transiently failing call")
    backoff: float = Field(0.2, ge=0, description="first back-off in seconds (doubles)")
    backoff_max: float = Field(3.0, ge=0, description="longest back-off in seconds")

    def to_client(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


class ManagedNodeSettings(_Strict):
    enabled: bool = Field(
        False, description="start the local Codex-compatible node (archive-service-codex-node)"
    )
    api_port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    storage_quota: int = Field(20 * 1024 * MiB, gt=0, description="bytes")
    block_retries: int = Field(3, ge=0, description="network retries for a missing block")
    retry_interval: float = Field(0.2, ge=0, description="seconds between those retries")
    bootstrap: list[str] = Field(default_factory=list, description="SPRs of peers to dial")


class CodexSettings(_Strict):
    api_url: str = Field(
        DEFAULT_API_URL,
        description="REST URL of the node (a generation prefix such as /api/codex/v1 is optional)",
    )
    api: Literal["auto", "codex-v1", "storage-v1"] = Field(
        "auto",
        description="REST API generation: codex-v1 (nim-codex v0.2.x), storage-v1 (Logos "
        "Storage v0.5.x) or auto (probed once per node)",
    )
    timeouts: CodexTimeoutSettings = Field(default_factory=CodexTimeoutSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    upload_concurrency: int = Field(2, ge=1, le=64, description="archives uploaded at once")
    max_archive_size: int = Field(
        64 * MiB, gt=0, description="largest archive a member accepts (bytes)"
    )
    max_index_size: int = Field(16 * MiB, gt=0, description="largest index accepted (bytes)")
    managed_node: ManagedNodeSettings = Field(default_factory=ManagedNodeSettings)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL such as " + DEFAULT_API_URL)
        return value.rstrip("/")
