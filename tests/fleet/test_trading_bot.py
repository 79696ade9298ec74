"""The trading instance reads its bot's journal as it grows: a portfolio bot is active once every symbol's warm-up
is done, not at the first one's; and a bot's exit is an error naming its code and last lines, bad input (exit 2)
for its configuration or a refusal a restart cannot cure, a plain failure when another bot holds the account."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tradewarden.fleet.trading import BotLaunch, BotSetupError, TradingBot, TradingError
from tradewarden.persistence.fleet_repo import WarmupProgress


class Hooks:
    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def warming(self, reason: str) -> None:
        self.said.append(("warming", reason))

    def progress(self, progress: WarmupProgress) -> None: ...

    def active(self, reason: str) -> None:
        self.said.append(("active", reason))


def write(journal: Path, *events: dict[str, object]) -> None:
    with journal.open("a") as out:
        out.writelines(json.dumps(e) + "\n" for e in events)


def test_a_portfolio_bot_is_active_once_every_symbol_is_warm(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    hooks = Hooks()
    bot = TradingBot(BotLaunch((), {}, tmp_path, ("BTC/USDT", "ETH/USDT")), hooks, grace_s=1)

    async def scenario() -> list[tuple[str, str]]:
        watch = asyncio.create_task(bot._watch_journal())
        write(journal, {"type": "RunStarted"}, {"type": "WarmUpDone", "symbol": "BTC/USDT", "candles": 30})
        await asyncio.sleep(1.2)  # two looks at the journal
        before = list(hooks.said)
        write(journal, {"type": "WarmUpDone", "symbol": "ETH/USDT", "candles": 30})
        await asyncio.wait_for(watch, 10)
        return before

    assert asyncio.run(scenario()) == []
    assert hooks.said == [("active", "the bot's warm-up is done (60 candles of 2 symbols); it trades")]


def launch(tmp_path: Path, code: int) -> BotLaunch:
    script = f"import sys; print('first line'); print('refused to start: it says why'); sys.exit({code})"
    return BotLaunch((sys.executable, "-c", script), {}, tmp_path, ("BTC/USDT",))


@pytest.mark.parametrize(("code", "journal", "error"), [
    (2, [], BotSetupError), (3, [{"type": "LIVE_ARM_FAILED"}], BotSetupError),
    (3, [{"type": "INSTANCE_REFUSED"}], TradingError), (1, [], TradingError)])
def test_a_bot_that_exits_on_its_own_is_an_error_naming_its_code_and_last_lines(
        tmp_path: Path, code: int, journal: list[dict[str, object]], error: type[TradingError]) -> None:
    write(tmp_path / "events.jsonl", *journal)
    hooks = Hooks()
    with pytest.raises(TradingError) as caught:
        asyncio.run(TradingBot(launch(tmp_path, code), hooks, grace_s=1).run(asyncio.Event()))
    assert type(caught.value) is error
    assert str(caught.value).endswith(f"exited with code {code}: first line | refused to start: it says why")
    assert [what for what, _ in hooks.said] == ["warming"]
