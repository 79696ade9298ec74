"""The parameter-file watcher on its own: polled by hand, so every step is deterministic."""

import os
from pathlib import Path

from tradewarden.runtime.param_watch import FileWatcher, snapshot


def _watcher(path: Path) -> tuple[FileWatcher, list[Path]]:
    calls: list[Path] = []
    return FileWatcher(path, calls.append), calls


def test_an_edit_is_reported_once_when_its_content_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    assert not watcher.poll()
    path.write_text("fast = 12\n")  # in place: same inode
    assert not watcher.poll(), "a content seen once may be half written"
    assert watcher.poll()
    assert calls == [path]
    assert not watcher.poll() and not watcher.poll()
    assert calls == [path]


def test_a_file_still_being_written_is_not_reported_until_it_settles(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\nslow = 30\n")
    watcher, calls = _watcher(path)
    with path.open("w") as fh:
        fh.write("fast = 1")
        fh.flush()
        assert not watcher.poll()
        fh.write("2\nslow = 3")
        fh.flush()
        assert not watcher.poll(), "content changed between polls: still being written"
        fh.write("5\n")
    assert not watcher.poll()
    assert watcher.poll()
    assert calls == [path]
    assert path.read_text() == "fast = 12\nslow = 35\n"


def test_touch_without_change_is_not_a_change(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns + 5_000_000_000, st.st_mtime_ns + 5_000_000_000))
    path.write_text("fast = 10\n")  # an editor saving the same bytes
    for _ in range(4):
        assert not watcher.poll()
    assert calls == []


def test_an_atomic_rename_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    tmp = tmp_path / "params.toml.new"
    tmp.write_text("fast = 20\n")
    os.replace(tmp, path)
    assert watcher.poll()
    assert calls == [path]
    assert not watcher.poll()


def test_rename_of_identical_content_is_not_a_change(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    tmp = tmp_path / "params.toml.new"
    tmp.write_text("fast = 10\n")
    os.replace(tmp, path)
    assert not watcher.poll() and not watcher.poll()
    assert calls == []


def test_deleted_file_keeps_parameters_and_a_recreated_one_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    path.unlink()
    assert not watcher.poll() and not watcher.poll()
    assert snapshot(path).digest is None
    path.write_text("fast = 11\n")
    assert watcher.poll() or watcher.poll()  # a new inode counts as a rename; else stable on the second look
    assert calls == [path]


def test_going_back_to_the_running_content_cancels_a_pending_change(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("fast = 10\n")
    watcher, calls = _watcher(path)
    path.write_text("fast = 99\n")
    assert not watcher.poll()
    path.write_text("fast = 10\n")
    assert not watcher.poll() and not watcher.poll()
    assert calls == []


def test_a_change_before_the_first_poll_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "params.toml"
    path.write_text("a\n")
    watcher, calls = _watcher(path)
    path.write_text("b\n")
    path.write_text("c\n")
    assert not watcher.poll()
    assert watcher.poll()
    assert calls == [path]
