"""Named TOML presets bundled in a package folder, or a TOML file by path: how the tools find a
scenario (archive_service_cli) or a performance profile (the Codex simulator) by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SUFFIX = ".toml"


@dataclass(frozen=True)
class PresetText:
    text: str
    source: str  # names it in errors: the preset's name or the file's path
    default_name: str  # the name it goes by when the TOML gives none


def preset_names(package: str, folder: str) -> list[str]:
    """The presets bundled in `package`'s `folder`, sorted."""
    entries = resources.files(package).joinpath(folder).iterdir()
    return sorted(e.name.removesuffix(SUFFIX) for e in entries if e.name.endswith(SUFFIX))


def read_preset(
    package: str,
    folder: str,
    name_or_path: str | Path,
    *,
    kind: str,
    offer: str,
    error: Callable[[str], Exception],
) -> PresetText:
    """The bundled preset named `name_or_path` (a str), else the file at that path. Raises
    `error(line)` when neither exists ("no <kind> …: give <offer>", `{names}` in `offer` the
    bundled names) or the file cannot be read."""
    text = str(name_or_path)
    names = preset_names(package, folder)
    if isinstance(name_or_path, str) and text in names:
        resource = resources.files(package).joinpath(folder, text + SUFFIX)
        return PresetText(resource.read_text(encoding="utf-8"), text, text)
    path = Path(name_or_path)
    if not path.is_file():
        raise error(f"no {kind} {text!r}: give {offer.format(names=', '.join(names))}")
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {kind} {path}: {exc}") from None
    return PresetText(content, str(path), path.stem)
