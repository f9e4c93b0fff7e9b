"""The pluggy plugin manager: backends and host hooks load from the `archive_service`
entry-point group; hosts and tests may also register plugin objects directly."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pluggy

from archive_service import hookspecs
from archive_service.errors import ConfigError
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendFactory


def plugin_manager(
    *, load_entrypoints: bool = True, plugins: Iterable[object] = ()
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def backend_factories(pm: pluggy.PluginManager) -> dict[str, BackendFactory]:
    factories: dict[str, BackendFactory] = {}
    for batch in pm.hook.archive_backend_factories():
        for factory in batch:
            if factory.name in factories:
                raise ConfigError(f"two plugins register a backend named {factory.name!r}")
            factories[factory.name] = factory
    return factories


def require_backends(pm: pluggy.PluginManager, names: Iterable[str]) -> dict[str, BackendFactory]:
    """The factories for `names`, in that order, or a ConfigError naming what is missing."""
    available = backend_factories(pm)
    missing = [n for n in names if n not in available]
    if missing:
        raise ConfigError(
            f"backend(s) {', '.join(missing)} not installed; available: "
            f"{', '.join(sorted(available)) or 'none'} (see `archive-service plugins`)"
        )
    return {n: available[n] for n in names}


def event_emitter(pm: pluggy.PluginManager) -> Callable[[ArchiveEvent], None]:
    def emit(event: ArchiveEvent) -> None:
        pm.hook.archive_event(event=event)

    return emit
