"""``tradewarden backup`` and ``tradewarden restore``: the bot's state in one archive, and back.

Both find the database and the data directory through the config, as ``run`` does
(:mod:`tradewarden.cli.state`). A backup is safe while the bot runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradewarden.cli.errors import user_errors
from tradewarden.cli.state import ConfigOpt, DataDirOpt, DbUrlOpt, load_state_config

out = Console(highlight=False, soft_wrap=True)


def backup(
    config: ConfigOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", file_okay=False, help="Where to write the archive [default: backup.dir, else <data dir>/backups].")]
    = None,
    keep: Annotated[int | None, typer.Option(
        "--keep", min=1, help="Then keep only the newest N archives there [default: keep all].")] = None,
    logical: Annotated[bool, typer.Option(
        "--logical", help="PostgreSQL: export rows as JSON lines even when pg_dump is installed.")] = False,
    data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Back up the database, the audit trails, the parameter file and the config (without secrets) into one
    timestamped archive with a manifest of checksums; safe while the bot runs."""
    from tradewarden.backup import create_backup, prune

    cfg = load_state_config(config, data_dir, db_url)
    with user_errors():
        made = create_backup(cfg, out_dir, use_pg_dump=False if logical else None)
        removed = prune(made.path.parent, keep) if keep is not None else []
    db = made.manifest["database"]
    out.print(f"backup written: {made.path}", markup=False)
    out.print(f"  database: {db['kind']} ({db['method']}, schema revision {db['revision']}); taken at "
              f"{made.manifest['created']}; {len(made.manifest['files'])} files", markup=False)
    if removed:
        out.print(f"  removed {len(removed)} older archive(s), keeping the newest {keep}", markup=False)


def restore(
    archive: Annotated[Path, typer.Argument(help="A tradewarden-backup-*.tar.gz archive.", dir_okay=False)],
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Restore into a data directory that is not empty (its database and trails are "
                        "replaced).")] = False,
) -> None:
    """Restore a backup into an empty data directory (and empty database): checks every checksum and each
    audit trail against its database head before writing anything. Exit 2 for a damaged or altered archive."""
    from tradewarden.backup import restore_backup

    cfg = load_state_config(config, data_dir, db_url)
    with user_errors():
        done = restore_backup(archive, cfg, force=force)
    out.print(f"restored the backup of {done.manifest['created']} into {cfg.data_dir}", markup=False)
    out.print(f"  database: {done.database}", markup=False)
    for trail, records in sorted(done.trails.items()):
        out.print(f"  audit trail {trail}: {records} records, chain intact and matching the database", markup=False)
    for kept in done.kept:
        out.print(f"  kept for reference: {kept}", markup=False)
