"""Settings from one place: ``HERITAGE_*`` environment variables, then ``config.toml`` in the
data directory, then defaults. Nothing reads the environment anywhere else."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

import platformdirs

from ledger.errors import ConfigError

__all__ = ["Settings", "load_settings"]

_PREFIX: Final = "HERITAGE_"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    rpc_url: str = "http://127.0.0.1:8545"
    deployment: Path | None = None
    ipfs_api: str | None = None  # None: the embedded node
    ipfs_host: str = "127.0.0.1"
    ipfs_port: int = 5001
    car_max_bytes: int = 4 << 30
    request_max_bytes: int = 4 << 30
    fsync: bool = True

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "blocks"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.toml"


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Turn a value from TOML or the environment into the field's type."""
    try:
        if target is bool or target == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{raw!r} is not a boolean")
        if target is int or target == "int":
            if isinstance(raw, bool):
                raise ValueError("a boolean is not a number")
            return int(raw)
        if "Path" in str(target):
            return None if raw in ("", None) else Path(str(raw)).expanduser()
        return None if raw == "" and "None" in str(target) else str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {name!r} has an unusable value {raw!r}: {exc}",
            hint=f"set {_PREFIX}{name.upper()} or {name} in config.toml to a valid value",
        ) from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``env`` (default: os.environ), config.toml and ``overrides``."""
    environ = os.environ if env is None else env
    data_dir = Path(
        overrides.pop("data_dir", None)
        or environ.get(_PREFIX + "DATA_DIR")
        or platformdirs.user_data_dir("heritage-ledger", appauthor=False)
    ).expanduser()
    settings = Settings(data_dir=data_dir)
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    config = settings.config_file
    if config.is_file():
        try:
            document = tomllib.loads(config.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config} is not valid TOML: {exc}") from None
        for key, raw in document.items():
            if key not in types or key == "data_dir":
                raise ConfigError(
                    f"{config} sets unknown key {key!r}",
                    hint="known keys: " + ", ".join(sorted(set(types) - {"data_dir"})),
                )
            values[key] = _coerce(key, raw, types[key])
    for name in types:
        if name == "data_dir":
            continue
        raw = environ.get(_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw, types[name])
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = raw
    return replace(settings, **values)
