"""The bounded window a session's engine keeps its per-bar and per-fill records in."""

from __future__ import annotations

import pytest

from tradewarden.engine.window import Window


def test_a_window_holds_at_most_twice_its_keep_and_counts_every_item() -> None:
    w: Window[int] = Window(10)
    for i in range(10_000):
        w.append(i)
        assert len(w.kept()) < 20
    assert len(w) == 10_000 and not w.complete
    assert w.kept() == list(range(w.start, 10_000)) and len(w.kept()) >= 10
    # absolute positions, as in a list of every item
    assert w[-1] == 9_999 and w[9_990] == 9_990 and w[9_990:9_995] == [9_990, 9_991, 9_992, 9_993, 9_994]
    assert w[len(w):] == [] and list(w) == w.kept()


def test_asking_a_window_for_an_item_it_no_longer_holds_fails_loudly() -> None:
    w: Window[int] = Window(4)
    w.extend(range(100))
    with pytest.raises(IndexError, match="no longer held"):
        _ = w[0]
    with pytest.raises(IndexError, match="no longer held"):
        _ = w[w.start - 1 : len(w)]
    with pytest.raises(IndexError):
        _ = w[100]


def test_without_keep_a_window_is_the_whole_list() -> None:
    w: Window[str] = Window()
    w.extend(str(i) for i in range(5000))
    assert w.complete and len(w) == 5000 and w.kept() == [str(i) for i in range(5000)] and w[0:2] == ["0", "1"]
    empty: Window[int] = Window(3)
    assert not empty and empty[0:5] == [] and empty.complete
