"""``tradewarden notify test`` and the ``notify`` settings: the token only from the environment or the secrets
file, never echoed; a configuration error exits 2, a channel the message did not reach exits 1 naming it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import ConfigError, load_config
from tradewarden.observability.scrub import scrub

from .fakes import FakeTelegram, WebhookReceiver


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


def env_for(tmp_path: Path, telegram: FakeTelegram | None = None, webhook_url: str | None = None) -> dict[str, str]:
    env = {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data")}
    if telegram is not None:
        env |= {"TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN": telegram.token, "TRADEWARDEN_NOTIFY__TELEGRAM__CHAT_IDS":
                "111,-100222", "TRADEWARDEN_NOTIFY__TELEGRAM__API_URL": telegram.url}
    if webhook_url is not None:
        env["TRADEWARDEN_NOTIFY__WEBHOOK__URL"] = webhook_url
    return env


def test_notify_test_reaches_every_channel(tmp_path: Path, telegram: FakeTelegram, webhook: WebhookReceiver) -> None:
    code, out = invoke(["notify", "test"], env_for(tmp_path, telegram, webhook.url))
    assert code == 0, out
    assert "telegram chat 111: ok" in out and "telegram chat -100222: ok" in out and "webhook (127.0.0.1): ok" in out
    assert sorted(s.chat_id for s in telegram.sent) == [-100222, 111]
    assert "test message" in telegram.sent[0].text and webhook.bodies[0]["kind"] == "test"
    assert telegram.token not in out


def test_notify_test_names_the_channel_that_failed(tmp_path: Path, telegram: FakeTelegram,
                                                   webhook: WebhookReceiver) -> None:
    webhook.status = 500
    code, out = invoke(["notify", "test"], env_for(tmp_path, telegram, webhook.url))
    assert code == 1, out
    assert "telegram chat 111: ok" in out and "webhook (127.0.0.1): FAILED (HTTP 500" in out
    assert "did not reach webhook (127.0.0.1)" in out and "telegram chat 111" not in out.split("did not reach")[1]


def test_notify_test_reads_the_config_file(tmp_path: Path, webhook: WebhookReceiver) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[notify.webhook]\nurl = "{webhook.url}"\nformat = "slack"\n')
    code, out = invoke(["notify", "test", "--config", str(cfg)], env_for(tmp_path))
    assert code == 0, out
    assert list(webhook.bodies[0]) == ["text"]


def test_notify_test_says_when_no_channel_is_configured(tmp_path: Path) -> None:
    code, out = invoke(["notify", "test"], env_for(tmp_path))
    assert code == 2 and "no notification channel is configured" in out


def test_a_bad_notify_setting_exits_2_in_one_line(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"TRADEWARDEN_NOTIFY__WEBHOOK__FORMAT": "teams",
                               "TRADEWARDEN_NOTIFY__TELEGRAM__CHAT_IDS": "111"}
    code, out = invoke(["notify", "test"], env)
    assert code == 2
    assert "notify.webhook.format: must be one of" in out and "chat_ids need a token" in out
    assert "Traceback" not in out


def test_the_token_is_refused_from_a_config_file_without_echoing_it(tmp_path: Path) -> None:
    token = f"123:canary{secrets.token_hex(12)}"
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[notify.telegram]\ntoken = "{token}"\nchat_ids = [1]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cfg, env={})
    assert "notify.telegram.token: secrets are not accepted from the config file" in str(caught.value)
    assert token not in str(caught.value)


@pytest.mark.parametrize("text", [
    'telegram_token = "{t}"\n',
    '[exchange]\napi_key = "k{h}"\napi_secret = "s{h}"\n[notify.telegram]\ntoken = "{t}"\n',
    "TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN={t}\n",
], ids=["toml-top-level", "toml-tables", "env-style"])
def test_the_token_comes_from_the_secrets_file_and_is_masked(tmp_path: Path, text: str) -> None:
    token = f"123:canary{secrets.token_hex(12)}"
    name = "secrets.env" if text.startswith("TRADEWARDEN") else "secrets.toml"
    path = tmp_path / name
    path.write_text(text.format(t=token, h=secrets.token_hex(8)))
    os.chmod(path, 0o600)
    cfg = load_config(None, {"exchange.secrets_file": str(path), "notify.telegram.chat_ids": "5"}, env={})
    assert cfg.notify.telegram.token is not None and cfg.notify.telegram.token.get_secret_value() == token
    assert scrub(f"url /bot{token}/sendMessage") == "url /bot***/sendMessage"


def test_the_environment_wins_over_the_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(f'telegram_token = "file{secrets.token_hex(8)}"\n')
    os.chmod(path, 0o600)
    env_token = f"env{secrets.token_hex(8)}"
    cfg = load_config(None, {"exchange.secrets_file": str(path), "notify.telegram.chat_ids": "5"},
                      env={"TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN": env_token})
    assert cfg.notify.telegram.token is not None and cfg.notify.telegram.token.get_secret_value() == env_token


def test_a_bad_chat_list_does_not_echo_a_token_from_the_secrets_file(tmp_path: Path) -> None:
    token = f"123:canary{secrets.token_hex(12)}"
    path = tmp_path / "secrets.toml"
    path.write_text(f'telegram_token = "{token}"\n')
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"exchange.secrets_file": str(path)}, env={})
    assert "a token needs chat_ids" in str(caught.value) and token not in str(caught.value)


def test_the_webhook_url_is_masked_in_config_show(tmp_path: Path) -> None:
    url = f"https://discord.com/api/webhooks/1/{secrets.token_hex(16)}"
    code, out = invoke(["config", "show", "--json"], env_for(tmp_path, webhook_url=url))
    assert code == 0, out
    assert url not in out and '"url": "***"' in out


def test_config_show_masks_the_token(tmp_path: Path, telegram: FakeTelegram) -> None:
    code, out = invoke(["config", "show", "--json"], env_for(tmp_path, telegram))
    assert code == 0, out
    assert telegram.token not in out and '"token": "***"' in out and '"chat_ids": [\n' in out
