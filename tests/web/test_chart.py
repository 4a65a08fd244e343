"""The expiry timeline's axes: labels that never overlap, whole numbers each once."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from certmgr.app.dashboard import TimelineBucket
from certmgr.web.chart import MIN_TICK_GAP, timeline_chart

START = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def buckets(counts: list[int]) -> list[TimelineBucket]:
    weeks = [TimelineBucket(f"{START + dt.timedelta(weeks=i):%Y-%m-%d}",
                            START + dt.timedelta(weeks=i), START + dt.timedelta(weeks=i + 1), c)
             for i, c in enumerate(counts[1:-1])]
    last = START + dt.timedelta(weeks=len(weeks))
    return ([TimelineBucket("expired", None, START, counts[0]), *weeks,
             TimelineBucket("later", last, None, counts[-1])])


@pytest.mark.parametrize(("peak", "expected"), [(1, ["0", "1"]), (2, ["0", "1", "2"]),
                                                (7, ["0", "3", "7"]), (0, [])])
def test_y_labels_are_whole_numbers_each_once(peak: int, expected: list[str]) -> None:
    chart = timeline_chart(buckets([0] * 53 + [peak]))
    assert [t.text for t in chart.y_ticks] == expected


def test_x_labels_never_overlap_and_keep_expired_and_later() -> None:
    chart = timeline_chart(buckets([1] * 55))
    xs = [t.x for t in chart.x_ticks]
    assert all(b - a >= MIN_TICK_GAP for a, b in itertools.pairwise(xs))
    texts = [t.text for t in chart.x_ticks]
    assert texts[0] == "exp." and texts[-1] == "later" and len(texts) >= 10
