"""A file another process appends to through an inherited descriptor (an instance's output) rotates like the
bot's own log: ``.1`` ... ``.<backups>`` at 0600, the oldest dropped, the writer's next line at the new start."""

from __future__ import annotations

import os
from pathlib import Path

from tradewarden.observability.logs import rotate_output_file


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def test_the_file_rotates_past_its_size_and_the_writer_goes_on_at_the_start(tmp_path: Path) -> None:
    path = tmp_path / "instance-1.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # as the child holds its stdout
    try:
        os.write(fd, b"a" * 80 + b"\n")
        assert rotate_output_file(path, max_bytes=100, backups=2) is False  # not past the size yet
        os.write(fd, b"b" * 80 + b"\n")
        assert rotate_output_file(path, max_bytes=100, backups=2) is True
        assert path.stat().st_size == 0
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"after\n"  # at the start: no hole of NUL bytes where the old content was
    rotated = tmp_path / "instance-1.log.1"
    assert rotated.read_bytes() == b"a" * 80 + b"\n" + b"b" * 80 + b"\n"
    assert mode(rotated) == "0o600"


def test_it_keeps_backups_files_and_drops_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "instance-2.log"
    for n in range(4):
        path.write_bytes(f"run {n}\n".encode() * 20)
        assert rotate_output_file(path, max_bytes=50, backups=2) is True
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["instance-2.log", "instance-2.log.1", "instance-2.log.2"]
    assert (tmp_path / "instance-2.log.1").read_text().startswith("run 3")
    assert (tmp_path / "instance-2.log.2").read_text().startswith("run 2")


def test_a_zero_size_or_zero_backups_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "instance-3.log"
    path.write_bytes(b"x" * 1000)
    assert rotate_output_file(path, max_bytes=0, backups=3) is False
    assert rotate_output_file(path, max_bytes=10, backups=0) is False
    assert rotate_output_file(tmp_path / "missing.log", max_bytes=10, backups=3) is False
    assert [p.name for p in tmp_path.iterdir()] == ["instance-3.log"]
