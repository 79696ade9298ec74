"""The exchange secrets file: owner-only mode required, TOML/YAML/.env formats, environment wins, no echo."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tradewarden.config import ConfigError, load_config, read_secrets_file
from tradewarden.observability import scrub
from tradewarden.observability.scrub import SCRUBBER

# generated per run, so no secret-looking literal is committed
KEY = "FileKeyCanary" + secrets.token_hex(6)
SECRET = "FileSecretCanary" + secrets.token_hex(6)

FORMATS = {
    "secrets.toml": f'[exchange]\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n',
    "secrets.yaml": f"api_key: {KEY}\napi_secret: {SECRET}\n",
    "secrets.env": (f"# exchange credentials\nexport TRADEWARDEN_EXCHANGE__API_KEY={KEY}\n\n"
                    f"api_secret='{SECRET}'\n"),
}


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    SCRUBBER.forget()


def secrets_file(tmp_path: Path, name: str, text: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_mode_600_file_is_accepted(tmp_path: Path, name: str) -> None:
    path = secrets_file(tmp_path, name, FORMATS[name], 0o600)
    cfg = load_config(env={}, overrides={"exchange.secrets_file": str(path)})
    assert cfg.exchange.api_key is not None and cfg.exchange.api_key.get_secret_value() == KEY
    assert cfg.exchange.api_secret is not None and cfg.exchange.api_secret.get_secret_value() == SECRET
    assert scrub(f"key={KEY} secret {SECRET}") == "key=*** secret ***"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, "secrets.toml", FORMATS["secrets.toml"], mode)
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"exchange.secrets_file": str(path)})
    text = str(caught.value)
    assert f"has mode {mode:o}" in text and f"chmod 600 {path}" in text
    assert KEY not in text and SECRET not in text


def test_owner_read_only_is_accepted(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "secrets.yaml", FORMATS["secrets.yaml"], 0o400)
    assert read_secrets_file(path) == {"api_key": KEY, "api_secret": SECRET}


def test_secrets_file_from_the_config_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "secrets.env", FORMATS["secrets.env"], 0o600)
    config = tmp_path / "c.toml"
    config.write_text(f'[exchange]\nid = "binance"\nsecrets_file = "{path}"\n')
    cfg = load_config(config, env={})
    assert cfg.exchange.has_credentials()


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "secrets.toml", FORMATS["secrets.toml"], 0o600)
    cfg = load_config(env={"TRADEWARDEN_EXCHANGE__API_KEY": "EnvKeyWins000111",
                           "TRADEWARDEN_EXCHANGE__SECRETS_FILE": str(path)})
    assert cfg.exchange.api_key is not None and cfg.exchange.api_key.get_secret_value() == "EnvKeyWins000111"
    assert cfg.exchange.api_secret is not None and cfg.exchange.api_secret.get_secret_value() == SECRET


def test_unknown_entries_and_bad_lines_are_named_without_values(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "s.toml", f'api_key = "{KEY}"\napi_sekret = "{SECRET}"\napi_password = 5\n',
                        0o600)
    with pytest.raises(ConfigError) as caught:
        read_secrets_file(path)
    assert len(caught.value.errors) == 2
    assert "unknown entry 'api_sekret'" in caught.value.errors[0]
    assert "api_password must be a non-empty string" in caught.value.errors[1]
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)

    env_style = secrets_file(tmp_path, "s.env", f"api_key {KEY}\n", 0o600)
    with pytest.raises(ConfigError, match="line 1: expected NAME=value") as caught_line:
        read_secrets_file(env_style)
    assert KEY not in str(caught_line.value)


def test_missing_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"exchange\.secrets_file: .*nope\.env: not found"):
        load_config(env={}, overrides={"exchange.secrets_file": str(tmp_path / "nope.env")})


def test_secrets_file_errors_are_reported_with_other_errors(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "secrets.toml", FORMATS["secrets.toml"], 0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"exchange.secrets_file": str(path), "backtest.sizing": "kelly"})
    assert len(caught.value.errors) == 2
