"""The scrubber: secret-named environment values, registered secrets, secret shapes, what stays visible."""

from __future__ import annotations

import hashlib
import json

import pytest

from tradewarden.observability import refresh_secrets, register_public, register_secret, scrub, scrub_value

# Binance's documented example key (64 mixed-case alphanumerics)
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SHA256 = hashlib.sha256(b"tradewarden").hexdigest()


def test_values_of_secret_named_variables_are_masked(canaries: tuple[str, ...]) -> None:
    line = "connecting with " + " / ".join(canaries)
    assert scrub(line) == "connecting with *** / *** / *** / ***"


def test_the_environment_snapshot_is_refreshable(monkeypatch: pytest.MonkeyPatch) -> None:
    value = "late-arriving-secret-42"
    monkeypatch.setenv("LATE_PASSWORD", value)
    refresh_secrets()
    assert scrub(f"pw {value}") == "pw ***"
    monkeypatch.delenv("LATE_PASSWORD")
    refresh_secrets()
    assert scrub(f"pw {value}") == f"pw {value}"


def test_a_given_mapping_replaces_the_snapshot() -> None:
    refresh_secrets({"X_TOKEN": "mapping-token-99", "PATH": "/usr/bin"})
    assert scrub("mapping-token-99 and /usr/bin") == "*** and /usr/bin"
    refresh_secrets()


@pytest.mark.parametrize(("name", "value"), [
    ("SHORT_KEY", "12345"),  # under 6 characters: masking it would mangle numbers everywhere
    ("FEATURE_TOKEN_ENABLED", "true"),  # a setting, not a secret
    ("SSL_KEY_FILE", "/bin/sh"),  # an existing absolute path names a file, it is not the key
    ("HOSTNAME", "not-secret-host-name"),  # the name has no secret marker
])
def test_variables_that_are_not_secrets_are_left_alone(monkeypatch: pytest.MonkeyPatch, name: str,
                                                       value: str) -> None:
    monkeypatch.setenv(name, value)
    refresh_secrets()
    assert scrub(f"value {value} here") == f"value {value} here"
    refresh_secrets()


def test_registered_secrets_are_masked_even_when_short_or_public() -> None:
    register_secret("s3cr")
    register_secret("abc")  # under 4 characters: ignored
    assert scrub("x s3cr y abc") == "x *** y abc"
    token = "PublicButAlsoSecretToken1234567890abcd"
    register_public(token)
    register_secret(token)
    assert scrub(token) == "***"


def test_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    register_secret("abcd1234")
    register_secret("abcd1234-extended")
    assert scrub("v=abcd1234-extended") == "v=***"


def test_binance_style_key_is_masked_sha256_is_not() -> None:
    assert scrub(f"key {BINANCE_KEY} ok") == "key *** ok"
    assert scrub(f"config hash {SHA256}") == f"config hash {SHA256}"
    assert scrub(SHA256.upper()) == SHA256.upper()


def test_register_public_keeps_a_key_shaped_value() -> None:
    run_id = "RunId0123456789abcdefGHIJKLMNOPqrstuv"
    assert scrub(run_id) == "***"
    register_public(run_id)
    assert scrub(run_id) == run_id
    assert scrub(BINANCE_KEY) == "***"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abcdef0123456789xyz", "Authorization: Bearer ***"),
    ("authorization: basic dXNlcjpwYXNzd29yZA==", "authorization: basic ***"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "***"),
    ("secret kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
     "secret ***"),
    ("GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=3f2a9c0d", "GET /api/v3/order?symbol=BTCUSDT"
     "&timestamp=1&signature=***"),
    ("headers={'X-MBX-APIKEY': 'shortkey1'}", "headers={'X-MBX-APIKEY': '***'}"),
    ("TRADEWARDEN_EXCHANGE__API_SECRET=abc123xyz", "TRADEWARDEN_EXCHANGE__API_SECRET=***"),
    ("password: hunter2", "password: ***"),
])
def test_secret_shapes_are_masked(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "Bearer tokens are sent in a header",  # prose: the word after Bearer is too short to be a token
    "Basic usage: tradewarden backtest",
    "runs/20210101T000000Z-donchian-BTCUSDT-1h/events.jsonl",
    "/home/user/.local/share/tradewarden/runs/2024-01-01T00-00-00Z-DonchianBreakout-BTCUSDT-1h",
    "tw-1a2b3c4d-1612345678000-1",
    "secrets_file: /etc/tradewarden/secrets.env",
    "password_policy=strict",
    '{"token": null, "api_key": true, "signature": 12345}',
    "BTC/USDT 1h equity 10023.45 drawdown -3.2%",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_scrubbed_json_line_stays_json() -> None:
    line = json.dumps({"apiKey": "k" * 10, "token": None, "n": 1, "key": BINANCE_KEY, "hash": SHA256})
    assert json.loads(scrub(line)) == {"apiKey": "***", "token": None, "n": 1, "key": "***", "hash": SHA256}


def test_scrub_value_recurses() -> None:
    register_secret("nested-secret-1")
    data = {"a": ["x nested-secret-1", {"b": ("nested-secret-1", 3)}], "nested-secret-1": 1.5, "n": None}
    assert scrub_value(data) == {"a": ["x ***", {"b": ["***", 3]}], "***": 1.5, "n": None}
