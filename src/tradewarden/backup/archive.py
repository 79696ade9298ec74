"""The backup archive: a gzip'd tar of files with a manifest of their SHA-256 checksums.

``tradewarden-backup-<UTC stamp>.tar.gz`` holds ``manifest.json`` and the files it lists. It is written
under a temporary name, 0600 (it holds balances, orders and the audit trail), and renamed when complete, so
a backup directory never holds a half-written archive under a backup's name. Reading checks the whole
archive before anything is written: every member a plain file at a relative path, listed in the manifest
with the size and checksum it has, and every listed file present.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from tradewarden.errors import BadInput
from tradewarden.private_files import open_private, private_dir

FORMAT = "tradewarden-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PREFIX = "tradewarden-backup-"
SUFFIX = ".tar.gz"
_CHUNK = 1 << 20


class BackupFormatError(BadInput):
    """The archive is not a tradewarden backup, or it was changed or damaged; the message names what and where."""


class BackupError(RuntimeError):
    """A backup or restore could not be done (a database, a tool or a file system failed)."""


def archive_name(created_ms: int) -> str:
    """``tradewarden-backup-20250102T030405123Z.tar.gz``: names sort as the backups were made."""
    moment = datetime.fromtimestamp(created_ms / 1000, UTC)
    return f"{PREFIX}{moment.strftime('%Y%m%dT%H%M%S')}{created_ms % 1000:03d}Z{SUFFIX}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its path inside it and where its content is (a staged file)."""

    name: str
    source: Path


def write_archive(out_dir: Path, name: str, header: dict[str, Any],
                  entries: list[Entry]) -> tuple[Path, dict[str, Any]]:
    """Write ``out_dir/name``: the manifest (``header`` plus every entry's size and sha256) and the entries;
    return the archive and its manifest."""
    private_dir(out_dir, "backup directory")
    files = [{"path": e.name, "size": e.source.stat().st_size, "sha256": sha256_file(e.source)} for e in entries]
    manifest = {**header, "files": files}
    final = out_dir / name
    partial = out_dir / f".{name}.partial"
    try:
        with open_private(partial, append=False) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            for entry in entries:
                info = tarfile.TarInfo(entry.name)
                info.size = entry.source.stat().st_size
                info.mode = 0o600
                with entry.source.open("rb") as fh:
                    tar.addfile(info, fh)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final, manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _safe_name(name: str, archive: Path) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupFormatError(f"{archive}: member {name!r} is not a relative path inside the archive")
    return str(path)


def read_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Extract ``archive`` into the (empty, private) directory ``into`` and check it; return the manifest.

    Raises :class:`BackupFormatError` naming the archive and the file that is wrong: not a tar.gz, no or a
    malformed manifest, a member not a plain file or not listed, a listed file missing, or a size or checksum
    that differs from the manifest's.
    """
    if not archive.is_file():
        raise BackupFormatError(f"{archive}: no such file")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            seen: list[str] = []
            for member in tar:
                name = _safe_name(member.name, archive)
                if not member.isfile():
                    raise BackupFormatError(f"{archive}: member {name!r} is not a plain file")
                target = into / name
                private_dir(target.parent, "restore staging directory")
                source = tar.extractfile(member)
                if source is None:
                    raise BackupFormatError(f"{archive}: member {name!r} cannot be read")
                with source, open_private(target, append=False) as fh:
                    while chunk := source.read(_CHUNK):
                        fh.write(chunk)
                seen.append(name)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, BackupFormatError):
            raise
        raise BackupFormatError(f"{archive}: not a readable tradewarden backup (tar.gz): {exc}") from None
    if MANIFEST not in seen:
        raise BackupFormatError(f"{archive}: no {MANIFEST}: not a tradewarden backup")
    manifest = _load_manifest(into / MANIFEST, archive)
    listed = {f["path"]: f for f in manifest["files"]}
    for name in seen:
        if name != MANIFEST and name not in listed:
            raise BackupFormatError(f"{archive}: {name} is not listed in the manifest (added after the backup?)")
    for name, entry in listed.items():
        path = into / _safe_name(name, archive)
        if name not in seen:
            raise BackupFormatError(f"{archive}: {name} is listed in the manifest but missing from the archive")
        size, digest = path.stat().st_size, sha256_file(path)
        if size != entry["size"] or digest != entry["sha256"]:
            raise BackupFormatError(f"{archive}: {name} does not match its checksum in the manifest "
                                    f"(sha256 {digest[:16]}..., recorded {str(entry['sha256'])[:16]}...): "
                                    "the archive was changed or damaged")
    return manifest


def _load_manifest(path: Path, archive: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BackupFormatError(f"{archive}: {MANIFEST} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupFormatError(f"{archive}: {MANIFEST} is not a tradewarden backup manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupFormatError(f"{archive}: backup format version {manifest.get('version')!r}; this tradewarden "
                                f"reads version {FORMAT_VERSION}")
    files = manifest.get("files")
    ok = isinstance(files, list) and all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("size"), int)
        and isinstance(f.get("sha256"), str) for f in files)
    database = manifest.get("database")
    if not ok or not isinstance(database, dict) or database.get("kind") not in ("sqlite", "postgresql"):
        raise BackupFormatError(f"{archive}: {MANIFEST} lacks its files (path, size, sha256) or database kind")
    return manifest


def prune(out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives in ``out_dir`` (by the stamp in their names); return them."""
    archives = sorted(p for p in out_dir.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())
    doomed = archives[:-keep] if keep > 0 else archives
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
