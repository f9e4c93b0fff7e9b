"""One typed configuration from a TOML file, environment variables and CLI overrides.

Precedence: overrides (CLI flags) > environment > file > defaults. Environment variables are
`ARCHIVE_SERVICE_<KEY>` with `__` between nesting levels, e.g.
`ARCHIVE_SERVICE_BACKEND__TORRENT__LISTEN_PORT=9025`; values starting with `[` or `{` are read
as TOML arrays / inline tables, every other value stays a string that the field's type converts
(so `9025` becomes an int for a port but stays "9025" for a path or a token). Unknown keys and
bad values raise ConfigError naming the dotted key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archive_service.errors import ConfigError

ENV_PREFIX = "ARCHIVE_SERVICE_"
WEEK = 7 * 24 * 3600


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OwnerSettings(_Strict):
    distribution: list[str] | None = Field(
        None,
        description="backends an owner publishes with, in order (unset: the enabled backends "
        "that publish by default, see BackendFactory.defaults)",
    )
    interval: float = Field(WEEK, gt=0, description="seconds between archive runs (and partition)")


class MemberSettings(_Strict):
    preference: list[str] | None = Field(
        None,
        description="backends a member downloads with, first usable wins (unset: the enabled "
        "backends in their default preference order)",
    )


class TimeoutSettings(_Strict):
    index: float = Field(20.0, gt=0, description="seconds for a backend's index (or metadata)")
    index_retries: int = Field(1, ge=0, description="extra attempts after an index timeout")
    archive: float = Field(60.0, gt=0, description="seconds for one archive")
    download: float = Field(3600.0, gt=0, description="seconds for a whole download run")


class ImportSettings(_Strict):
    initial_delay: float = Field(300.0, ge=0, description="seconds before the first import")
    chunk_size: int = Field(10, gt=0, description="messages handed to the host per batch")
    slow_rate: float = Field(1.0, gt=0, description="batches per second in slow mode")
    fast_rate: float = Field(100.0, gt=0, description="batches per second in fast mode")
    fast: bool = Field(False, description="start in fast mode")
    tick: float = Field(0.1, gt=0, description="seconds between archives")
    no_key_backoff: float = Field(3600.0, gt=0, description="seconds to wait when a key is missing")
    error_backoff: float = Field(1.0, gt=0, description="first back-off after an import error")
    max_attempts: int = Field(5, gt=0, description="import attempts before an archive is surfaced")


class Config(_Strict):
    data_dir: Path = Field(
        Path("archive-data"), description="node state: database and backend dirs"
    )
    enabled: list[str] | None = Field(
        None,
        description="backends started on this node (unset: every installed backend but the "
        "no-op one, or the no-op one alone when no other is installed)",
    )
    max_download_concurrency: int = Field(4, gt=0)
    owner: OwnerSettings = Field(default_factory=OwnerSettings)
    member: MemberSettings = Field(default_factory=MemberSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    backend: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-backend settings by backend name"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def database(self) -> Path:
        return self.data_dir / "archive-service.sqlite"

    def backend_dir(self, name: str) -> Path:
        return self.data_dir / name


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int)) or "<root>"


def _raise_config_error(exc: ValidationError, prefix: str = "") -> None:
    problems = []
    for err in exc.errors():
        # A model-level error has no location: name the section itself.
        key = prefix + _key_of(err["loc"]) if err["loc"] else prefix.rstrip(".") or "<root>"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        else:
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_scalar(text: str) -> Any:
    # Scalars stay strings: the model's lax mode turns "9025" into an int where an int is
    # expected, and a TOML parse here would turn a numeric-looking path or token into a number.
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        parsed = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):  # RecursionError: nesting too deep
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text  # "[1]\nx = 2" is not one value


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"invalid configuration key {key!r}: empty segment")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"invalid configuration key {key!r}: {part!r} is not a table")
        node[parts[-1]] = value
    return nested


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    dotted = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            dotted[key] = _parse_scalar(value)
    return _nest(dotted)


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config; `overrides` are dotted keys (e.g. {'owner.interval': 60})."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    data = _deep_merge(data, env_overrides(os.environ if environ is None else environ))
    data = _deep_merge(data, _nest(overrides or {}))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        _raise_config_error(exc)
        raise  # unreachable


def validate_backend_settings(
    name: str, model: type[BaseModel], settings: Mapping[str, Any]
) -> BaseModel:
    try:
        return model.model_validate(dict(settings))
    except ValidationError as exc:
        _raise_config_error(exc, prefix=f"backend.{name}.")
        raise  # unreachable
