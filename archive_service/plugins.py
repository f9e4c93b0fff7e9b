"""The pluggy plugin manager: backends and host hooks load from the `archive_service`
entry-point group; hosts and tests may also register plugin objects directly.

Entry points are discovered and imported once per process (scanning every installed
distribution is slow), but each node gets its own `PluginManager`: the lab runs several nodes,
each with its own store importer and event observers, in one process."""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from archive_service import hookspecs
from archive_service.config import Config
from archive_service.errors import ConfigError
from archive_service.events import ArchiveEvent
from archive_service.fsutil import fsync_dir
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
    taken: set[str] = set()
    for batch in pm.hook.archive_backend_factories():
        for factory in batch:
            for name in (factory.name, *factory.aliases):
                if name in taken:
                    raise ConfigError(f"two plugins register a backend named {name!r}")
                taken.add(name)
            factories[factory.name] = factory
    return factories


def canonical_backend_name(factories: Mapping[str, BackendFactory], name: str) -> str:
    """`name`, or the backend name it is an alias of (unknown names are returned as given).
    `_` stands for `-` (environment variables cannot spell `logos-storage`)."""
    for candidate in dict.fromkeys((name, name.replace("_", "-"))):
        if candidate in factories:
            return candidate
        for factory in factories.values():
            if candidate in factory.aliases:
                return factory.name
    return name


def canonical_config(config: Config, factories: Mapping[str, BackendFactory]) -> Config:
    """`config` with backend aliases replaced by the backends' names (enabled, distribution,
    preference and `[backend.<alias>]` settings), so `codex` and `logos-storage` configs work
    alike."""

    def names(values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        out: list[str] = []
        for value in values:
            canonical = canonical_backend_name(factories, value)
            if canonical not in out:
                out.append(canonical)
        return out

    settings: dict[str, dict[str, Any]] = {}
    for key, value in config.backend.items():
        canonical = canonical_backend_name(factories, key)
        if canonical in settings:
            raise ConfigError(
                f"backend settings for {canonical!r} are given twice ([backend.{key}] is an "
                "alias of it); keep one section"
            )
        settings[canonical] = value
    owner = config.owner.model_copy(update={"distribution": names(config.owner.distribution)})
    member = config.member.model_copy(update={"preference": names(config.member.preference)})
    return config.model_copy(
        update={
            "enabled": names(config.enabled),
            "owner": owner,
            "member": member,
            "backend": settings,
        }
    )


def require_backends(pm: pluggy.PluginManager, names: Iterable[str]) -> dict[str, BackendFactory]:
    """The factories for `names` (aliases resolved), in that order, or a ConfigError naming
    what is missing."""
    available = backend_factories(pm)
    names = list(dict.fromkeys(canonical_backend_name(available, n) for n in names))
    missing = [n for n in names if n not in available]
    if missing:
        raise ConfigError(
            f"backend(s) {', '.join(missing)} not installed; available: "
            f"{', '.join(sorted(available)) or 'none'} (see `archive-service plugins`)"
        )
    return {n: available[n] for n in names}


def adopt_alias_dirs(config: Config, factories: Mapping[str, BackendFactory]) -> None:
    """Move a backend's state folder from `<data_dir>/<alias>` to `<data_dir>/<name>` (one
    rename, so a crash leaves it whole in one place), for data written before the backend was
    renamed and the old name became an alias. Both folders holding state is a ConfigError."""
    for name, factory in factories.items():
        target = config.backend_dir(name)
        for alias in factory.aliases:
            source = config.backend_dir(alias)
            if not source.is_dir():
                continue
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise ConfigError(
                    f"backend {name!r} has state in both {source} (its old name {alias!r}) and "
                    f"{target}; keep one of them ({target} is used)"
                )
            os.rename(source, target)  # replaces an empty target directory atomically
            fsync_dir(config.data_dir)


def with_backend_defaults(config: Config, factories: Mapping[str, BackendFactory]) -> Config:
    """`config` with `enabled`, `owner.distribution` and `member.preference` filled in where
    unset, from the installed backends' `BackendFactory.defaults`: every installed backend but
    the no-op one (the no-op one alone when no other is installed). Aliases become names."""
    config = canonical_config(config, factories)
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
