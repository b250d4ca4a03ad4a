"""Settings: environment over config.toml over defaults, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import ConfigError
from ledger.settings import Settings, load_settings


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings({"HERITAGE_DATA_DIR": str(tmp_path)})
    assert settings == Settings(data_dir=tmp_path)
    assert settings.blocks_dir == tmp_path / "blocks"


def test_environment_overrides_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('ipfs_port = 6001\nipfs_api = "http://a:1"\n')
    settings = load_settings({"HERITAGE_DATA_DIR": str(tmp_path), "HERITAGE_IPFS_PORT": "7001"})
    assert settings.ipfs_port == 7001
    assert settings.ipfs_api == "http://a:1"


def test_booleans_parse_from_env(tmp_path: Path) -> None:
    env = {"HERITAGE_DATA_DIR": str(tmp_path), "HERITAGE_FSYNC": "off"}
    assert load_settings(env).fsync is False


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("ipfs_port = [", "not valid TOML"),
        ("no_such_key = 1", "unknown key 'no_such_key'"),
        ('ipfs_port = "many"', "'ipfs_port' has an unusable value"),
        ("fsync = 3", "'fsync' has an unusable value"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings({"HERITAGE_DATA_DIR": str(tmp_path)})
    assert fragment in str(caught.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    env = {"HERITAGE_DATA_DIR": str(tmp_path), "HERITAGE_CAR_MAX_BYTES": "lots"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert "HERITAGE_CAR_MAX_BYTES" in str(caught.value)
