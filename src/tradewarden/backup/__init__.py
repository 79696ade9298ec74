"""Backups of a bot's state (database, audit trails, parameter files, config without secrets) and restores.

See docs/BACKUP.md. :func:`create_backup` is safe while the bot runs; :func:`run_scheduled_backup` is the
job a running bot's scheduler calls (:func:`declare_backup_job`), followed by the retention count.
"""

from __future__ import annotations

from tradewarden.backup.archive import BackupError, BackupFormatError, prune
from tradewarden.backup.create import Backup, create_backup, declare_backup_job, run_scheduled_backup
from tradewarden.backup.restore import Restored, RestoreRefusedError, restore_backup

__all__ = [
    "Backup",
    "BackupError",
    "BackupFormatError",
    "RestoreRefusedError",
    "Restored",
    "create_backup",
    "declare_backup_job",
    "prune",
    "restore_backup",
    "run_scheduled_backup",
]
