"""Plugin entry point: registers this backend's factory with archive-service (being built)."""

from archive_service.hookspecs import hookimpl
from archive_service.interface import BackendFactory


@hookimpl
def archive_backend_factories() -> list[BackendFactory]:
    return []
