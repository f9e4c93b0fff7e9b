"""Plugin entry point (`codex = archive_service_codex.plugin`): every hook the Codex plugin
implements is registered here; the work is done by the modules it names. The local node, its
loopback provider and its `codex-node` command are the simulator's (archive-service-codex-node)."""

from __future__ import annotations

from typing import Any

from archive_service.hookspecs import hookimpl
from archive_service.interface import BackendDefaults, BackendFactory
from archive_service_codex import tools
from archive_service_codex.backend import CodexBackend
from archive_service_codex.index import decode_plain_codex_index
from archive_service_codex.settings import CodexSettings


@hookimpl
def archive_backend_factories() -> list[BackendFactory]:
    return [
        BackendFactory(
            name=CodexBackend.name,
            description="Logos Storage (formerly Codex): one CID per archive plus an index CID, "
            "over the REST API of either generation (codex-v1, storage-v1)",
            # Codex was renamed Logos Storage: configs, CLI options and store rows written
            # under the old name keep working (the store renames its rows on open).
            aliases=("codex",),
            backend_class=CodexBackend,
            settings_model=CodexSettings,
            defaults=BackendDefaults(order=1, publish=False, preference=0),
            decode_index=decode_plain_codex_index,
        )
    ]


@hookimpl(optionalhook=True)
def archive_inspect(data: bytes, text: str | None) -> dict[str, Any] | None:
    return tools.inspect(data, text)
