import pytest

from tradewarden.runtime.live_gate import LIVE_ENV, LiveGateError, check_gate

HASH = "a" * 64
ARMED = {LIVE_ENV: "YES_I_UNDERSTAND"}
PAIR = ("api_key", "api_secret")


def test_live_is_armed_only_with_env_and_matching_hash_and_keys() -> None:
    assert check_gate("live", HASH, HASH, ARMED, keys=PAIR, exchange_id="binance").mode == "live"
    assert check_gate("live", HASH, HASH, ARMED, keys=(*PAIR, "api_password"), exchange_id="okx").mode == "live"


@pytest.mark.parametrize(
    ("env", "confirm", "keys", "exchange", "reason"),
    [
        ({}, HASH, PAIR, "binance", "ENV_MISSING"),
        ({LIVE_ENV: "yes"}, HASH, PAIR, "binance", "ENV_WRONG_VALUE"),
        ({LIVE_ENV: "YES_I_UNDERSTAND "}, HASH, PAIR, "binance", "ENV_WRONG_VALUE"),
        (ARMED, None, PAIR, "binance", "CONFIRM_MISSING"),
        (ARMED, "", PAIR, "binance", "CONFIRM_MISSING"),
        (ARMED, "b" * 64, PAIR, "binance", "CONFIRM_MISMATCH"),       # hash of another config
        (ARMED, HASH[:-1] + "b", PAIR, "binance", "CONFIRM_MISMATCH"),  # stale: one setting changed
        (ARMED, HASH[:12], PAIR, "binance", "CONFIRM_MISMATCH"),       # a prefix is not enough
        (ARMED, HASH, (), "binance", "KEYS_MISSING"),
        (ARMED, HASH, ("api_password",), "okx", "KEYS_MISSING"),
        (ARMED, HASH, ("api_key",), "binance", "KEYS_INCOMPLETE"),
        (ARMED, HASH, ("api_secret", "api_password"), "okx", "KEYS_INCOMPLETE"),
        (ARMED, HASH, PAIR, None, "NO_EXCHANGE"),                     # would trade the built-in simulator
        (ARMED, HASH, PAIR, "", "NO_EXCHANGE"),
        ({}, None, (), None, "NO_EXCHANGE"),                          # no exchange is the first thing to fix
    ],
)
def test_every_way_around_the_gate_fails(env: dict[str, str], confirm: str | None, keys: tuple[str, ...],
                                         exchange: str | None, reason: str) -> None:
    with pytest.raises(LiveGateError) as exc:
        check_gate("live", HASH, confirm, env, keys=keys, exchange_id=exchange)
    assert exc.value.reason == reason


@pytest.mark.parametrize("keys", [PAIR, ("api_key",), ("api_secret",), ("api_password",)])
@pytest.mark.parametrize("mode", ["paper", "shadow"])
def test_any_key_material_in_paper_or_shadow_is_refused(mode: str, keys: tuple[str, ...]) -> None:
    with pytest.raises(LiveGateError) as exc:
        check_gate(mode, HASH, None, ARMED, keys=keys, exchange_id=None)
    assert exc.value.reason == "KEYS_IN_NON_LIVE_MODE"
    assert all(f"exchange.{name}" in str(exc.value) for name in keys)
    assert check_gate(mode, HASH, None, {}, keys=(), exchange_id=None).mode == mode


def test_unknown_mode() -> None:
    with pytest.raises(LiveGateError) as exc:
        check_gate("LIVE", HASH, HASH, ARMED, keys=PAIR, exchange_id="binance")
    assert exc.value.reason == "UNKNOWN_MODE"
