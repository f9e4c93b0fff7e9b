"""Plugin entry point: registers the Codex backend factory with archive-service."""

from archive_service.hookspecs import hookimpl
from archive_service.interface import BackendFactory
from archive_service_codex.backend import CodexBackend
from archive_service_codex.settings import CodexSettings


@hookimpl
def archive_backend_factories() -> list[BackendFactory]:
    return [
        BackendFactory(
            name=CodexBackend.name,
            description="Codex: one CID per archive plus an index CID, over the Codex REST API",
            backend_class=CodexBackend,
            settings_model=CodexSettings,
        )
    ]
