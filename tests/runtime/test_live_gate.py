import pytest

from tradewarden.runtime.live_gate import LIVE_ENV, LiveGateError, check_gate

HASH = "a" * 64
ARMED = {LIVE_ENV: "YES_I_UNDERSTAND"}


def test_live_is_armed_only_with_env_and_matching_hash_and_keys() -> None:
    assert check_gate("live", HASH, HASH, ARMED, keys_present=True).mode == "live"


@pytest.mark.parametrize(
    ("env", "confirm", "keys", "reason"),
    [
        ({}, HASH, True, "ENV_MISSING"),
        ({LIVE_ENV: "yes"}, HASH, True, "ENV_WRONG_VALUE"),
        ({LIVE_ENV: "YES_I_UNDERSTAND "}, HASH, True, "ENV_WRONG_VALUE"),
        (ARMED, None, True, "CONFIRM_MISSING"),
        (ARMED, "", True, "CONFIRM_MISSING"),
        (ARMED, "b" * 64, True, "CONFIRM_MISMATCH"),       # hash of another config
        (ARMED, HASH[:-1] + "b", True, "CONFIRM_MISMATCH"),  # stale: one setting changed
        (ARMED, HASH[:12], True, "CONFIRM_MISMATCH"),       # a prefix is not enough
        (ARMED, HASH, False, "KEYS_MISSING"),
    ],
)
def test_every_way_around_the_gate_fails(env: dict[str, str], confirm: str | None, keys: bool, reason: str) -> None:
    with pytest.raises(LiveGateError) as exc:
        check_gate("live", HASH, confirm, env, keys_present=keys)
    assert exc.value.reason == reason


@pytest.mark.parametrize("mode", ["paper", "shadow"])
def test_keys_present_in_paper_or_shadow_is_refused(mode: str) -> None:
    with pytest.raises(LiveGateError) as exc:
        check_gate(mode, HASH, None, ARMED, keys_present=True)
    assert exc.value.reason == "KEYS_IN_NON_LIVE_MODE"
    assert check_gate(mode, HASH, None, {}, keys_present=False).mode == mode


def test_unknown_mode() -> None:
    with pytest.raises(LiveGateError):
        check_gate("LIVE", HASH, HASH, ARMED, keys_present=True)
