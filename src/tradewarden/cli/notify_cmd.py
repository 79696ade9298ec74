"""``tradewarden notify test``: a test message to every configured notification channel.

Exit 0 when every channel got it, 1 naming each channel that did not, 2 for a bad configuration or when no
channel is configured (docs/NOTIFY.md)."""

from __future__ import annotations

import typer
from rich.console import Console

from tradewarden.cli.errors import fail, user_errors
from tradewarden.cli.state import ConfigOpt, load_state_config

out = Console(highlight=False, soft_wrap=True)
notify_app = typer.Typer(help="Alerts over Telegram and webhooks (docs/NOTIFY.md).", no_args_is_help=True)


@notify_app.command("test")
def test(config: ConfigOpt = None) -> None:
    """Send a test message to every configured channel; exit 1 naming each channel that failed."""
    import logging

    from tradewarden.notify.build import send_test

    # each channel's result is printed below; the delivery's log line would say it twice
    logging.getLogger("tradewarden.notify").setLevel(logging.ERROR)
    cfg = load_state_config(config)
    with user_errors():
        results = send_test(cfg)
    if not results:
        raise fail("no notification channel is configured: set notify.telegram.chat_ids and the bot token "
                   "(TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN or the secrets file), or notify.webhook.url "
                   "(docs/NOTIFY.md)")
    for r in results:
        out.print(f"{r.channel}: " + ("ok" if r.ok else f"FAILED ({r.error})"), markup=False)
    failed = [r.channel for r in results if not r.ok]
    if failed:
        raise fail(f"the test message did not reach {', '.join(failed)}", 1)
