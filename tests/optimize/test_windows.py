"""Walk-forward windows and the holdout split, computed exactly."""

from __future__ import annotations

import pytest

from tradewarden.optimize.windows import (
    Window,
    WindowError,
    default_lengths,
    parse_length,
    plan_windows,
    split_holdout,
    walk_forward_windows,
)

HOUR = 3_600_000


def test_rolling_windows_exact() -> None:
    assert walk_forward_windows(0, 100, in_sample=40, out_of_sample=20) == [
        Window(0, 0, 40, 40, 60),
        Window(1, 20, 60, 60, 80),
        Window(2, 40, 80, 80, 100),
    ]


def test_rolling_windows_with_step_and_offset_drop_incomplete_last_window() -> None:
    assert walk_forward_windows(10, 105, in_sample=30, out_of_sample=20, step=25) == [
        Window(0, 10, 40, 40, 60),
        Window(1, 35, 65, 65, 85),
    ]  # a third window would need out-of-sample bars up to 110 > 105


def test_anchored_windows_grow_the_in_sample_part() -> None:
    assert walk_forward_windows(0, 100, in_sample=40, out_of_sample=20, anchored=True) == [
        Window(0, 0, 40, 40, 60),
        Window(1, 0, 60, 60, 80),
        Window(2, 0, 80, 80, 100),
    ]


def test_out_of_sample_parts_tile_the_search_period_by_default() -> None:
    ws = walk_forward_windows(0, 1000, in_sample=200, out_of_sample=100)
    assert [w.oos_start for w in ws[1:]] == [w.oos_end for w in ws[:-1]]
    assert ws[0].oos_start == 200 and ws[-1].oos_end == 1000 and len(ws) == 8


def test_holdout_is_carved_off_first_and_windows_stay_before_it() -> None:
    plan = plan_windows(1000, 200, in_sample=None, out_of_sample=None, windows=5)
    assert plan.search_end == 800 and plan.holdout == (800, 1000)
    # default lengths: out-of-sample 800 // (2 + 5) = 114, in-sample 228, five rolling windows
    assert plan.windows == (
        Window(0, 0, 228, 228, 342),
        Window(1, 114, 342, 342, 456),
        Window(2, 228, 456, 456, 570),
        Window(3, 342, 570, 570, 684),
        Window(4, 456, 684, 684, 798),
    )
    assert all(w.oos_end <= plan.search_end for w in plan.windows)


def test_default_lengths() -> None:
    assert default_lengths(700, 5) == (200, 100)
    assert default_lengths(701, 5) == (200, 100)
    with pytest.raises(WindowError, match="too few"):
        default_lengths(5, 5)


def test_split_holdout_bounds() -> None:
    assert split_holdout(10, 1) == 9
    for bad in (0, 10, 11):
        with pytest.raises(WindowError, match="holdout"):
            split_holdout(10, bad)


def test_windows_that_do_not_fit_are_an_error_naming_the_lengths() -> None:
    with pytest.raises(WindowError, match=r"in-sample 80 \+ out-of-sample 30 bars do not fit in the 100"):
        walk_forward_windows(0, 100, 80, 30)
    with pytest.raises(WindowError, match="at least 1 bar"):
        walk_forward_windows(0, 100, 0, 30)


@pytest.mark.parametrize(("text", "bars"), [
    ("500", 500), ("500bars", 500), ("90d", 2160), ("12h", 12), ("2w", 336), ("20%", 200), ("12.5%", 125),
])
def test_parse_length(text: str, bars: int) -> None:
    assert parse_length(text, HOUR, 1000, "holdout") == bars


@pytest.mark.parametrize(("text", "message"), [
    ("ninety days", "cannot read"), ("30m", "not a whole number of 60-minute bars"), ("150%", "between"),
    ("0.5", "whole number of bars"), ("0", "less than one bar"),
])
def test_parse_length_errors_name_the_option(text: str, message: str) -> None:
    with pytest.raises(WindowError, match=f"holdout: .*{message}"):
        parse_length(text, HOUR, 1000, "holdout")
