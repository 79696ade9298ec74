"""``tradewarden api token create|list|revoke``: printed once, stored hashed, roles, revocation."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tradewarden.api import tokens
from tradewarden.cli.main import app
from tradewarden.persistence import Database


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["api", "token", *args, "--data-dir", str(tmp_path)])
    return result.exit_code, result.output


def test_a_token_is_printed_once_alone_and_stored_only_hashed(tmp_path: Path) -> None:
    code, output = _cli(tmp_path, "create", "--name", "grafana", "--role", "viewer")
    assert code == 0
    secret = output.strip()
    assert output == secret + "\n" and secret.startswith(tokens.PREFIX) and len(secret) > 40
    with Database.open(None, tmp_path) as db:
        found = tokens.verify(db, secret)
        assert found is not None and (found.name, found.role) == ("grafana", tokens.Role.VIEWER)
        assert tokens.verify(db, secret + "x") is None
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("tradewarden.db*"))
    assert secret.encode() not in raw and tokens.digest(secret).encode() in raw
    code, listing = _cli(tmp_path, "list")
    assert code == 0 and "grafana  viewer" in listing and secret not in listing


def test_a_revoked_token_opens_nothing(tmp_path: Path) -> None:
    secret = _cli(tmp_path, "create", "--name", "ops", "--role", "operator")[1].strip()
    assert _cli(tmp_path, "revoke", "ops")[0] == 0
    with Database.open(None, tmp_path) as db:
        assert tokens.verify(db, secret) is None and not tokens.any_active(db)
    assert "REVOKED" in _cli(tmp_path, "list")[1]


def test_bad_names_roles_and_duplicates_are_one_line_exit_2(tmp_path: Path) -> None:
    assert _cli(tmp_path, "create", "--name", "a", "--role", "admin") == \
        (2, "error: --role 'admin': use viewer or operator\n")
    assert _cli(tmp_path, "create", "--name", "a")[0] == 0
    code, output = _cli(tmp_path, "create", "--name", "a")
    assert code == 2 and "exists already" in output
    code, output = _cli(tmp_path, "revoke", "nobody")
    assert code == 2 and "no token named 'nobody'" in output


def test_serve_refuses_a_non_loopback_host_while_no_token_exists(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 3 and "refusing to listen on 0.0.0.0: no API token exists" in result.output
