"""The pluggy plugin manager: backends and host hooks load from the `archive_service`
entry-point group; hosts and tests may also register plugin objects directly.

Entry points are discovered and imported once per process (scanning every installed
distribution is slow), but each node gets its own `PluginManager`: the lab runs several nodes,
each with its own store importer and event observers, in one process."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType

import pluggy

from archive_service import hookspecs
from archive_service.config import Config
from archive_service.errors import ConfigError
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendFactory
from archive_service.noop import NoopBackend


@dataclass(frozen=True)
class EntryPointPlugin:
    name: str
    plugin: object
    distribution: importlib.metadata.Distribution


class ArchivePluginManager(pluggy.PluginManager):
    def register_entry_point(self, entry: EntryPointPlugin) -> None:
        """Register a cached entry-point plugin as `load_setuptools_entrypoints` would, so
        `list_plugin_distinfo()` still names its distribution."""
        if self.has_plugin(entry.name) or self.is_blocked(entry.name):
            return
        self.register(entry.plugin, name=entry.name)
        self._plugin_distinfo.append((entry.plugin, entry.distribution))


@functools.cache
def entry_point_plugins() -> tuple[EntryPointPlugin, ...]:
    """Every plugin of the `archive_service` entry-point group, imported once per process."""
    found: list[EntryPointPlugin] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != hookspecs.PROJECT or ep.name in seen:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise ConfigError(
                    f"plugin {ep.name!r} ({ep.value}, from {dist.name}) failed to import: "
                    f"{type(exc).__name__}: {exc}; reinstall or uninstall it"
                ) from exc
            seen.add(ep.name)
            found.append(EntryPointPlugin(ep.name, plugin, dist))
    return tuple(found)


def plugin_manager(
    *,
    load_entrypoints: bool = True,
    plugins: Iterable[object] = (),
    specs: Iterable[ModuleType | object] = (),
) -> ArchivePluginManager:
    """A new plugin manager with the core's hookspecs plus `specs` (e.g. an application's),
    the installed entry-point plugins, then `plugins`. A hookimpl that matches no hookspec
    (a misspelt name) is a ConfigError, unless it is marked `optionalhook=True`."""
    pm = ArchivePluginManager(hookspecs.PROJECT)
    for spec in (hookspecs, *specs):
        pm.add_hookspecs(spec)
    try:
        if load_entrypoints:
            for entry in entry_point_plugins():
                pm.register_entry_point(entry)
        for plugin in plugins:
            pm.register(plugin)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ConfigError(
            f"invalid plugin {_plugin_name(pm, exc.plugin)}: {reason}; fix the hookimpl's name "
            "or arguments, or mark it optionalhook=True"
        ) from None
    return pm


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """The entry-point name, else the module's or the class's name (pluggy names an object
    registered without a name by its id)."""
    name = pm.get_name(plugin)
    if name is not None and name != str(id(plugin)):
        return name
    return getattr(plugin, "__name__", None) or type(plugin).__qualname__


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


def with_backend_defaults(config: Config, factories: Mapping[str, BackendFactory]) -> Config:
    """`config` with `enabled`, `owner.distribution` and `member.preference` filled in where
    unset, from the installed backends' `BackendFactory.defaults`: every installed backend but
    the no-op one (the no-op one alone when no other is installed)."""
    real = [name for name in factories if name != NoopBackend.name]
    if config.enabled is not None:
        enabled = list(config.enabled)
    elif real:
        enabled = sorted(real, key=lambda n: (factories[n].defaults.order, n))
    else:
        enabled = [NoopBackend.name]
    known = [n for n in enabled if n in factories]  # unknown names fail in require_backends
    owner, member = config.owner, config.member
    if owner.distribution is None:
        publishing = [n for n in known if factories[n].defaults.publish]
        owner = owner.model_copy(update={"distribution": publishing or known[:1]})
    if member.preference is None:
        ranked = sorted(known, key=lambda n: (factories[n].defaults.preference, n))
        member = member.model_copy(update={"preference": ranked})
    return config.model_copy(update={"enabled": enabled, "owner": owner, "member": member})


def event_emitter(pm: pluggy.PluginManager) -> Callable[[ArchiveEvent], None]:
    def emit(event: ArchiveEvent) -> None:
        pm.hook.archive_event(event=event)

    return emit
