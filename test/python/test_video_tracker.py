"""sparq.video.tracker: constant-velocity prediction and IoU matching on
hand-computed moves."""

from __future__ import annotations

import pytest

from sparq.video.tracker import Tracker


def box(x: float, y: float = 0.0, size: float = 10.0):
    return (x, y, x + size, y + size)


def test_constant_velocity_is_predicted_exactly() -> None:
    t = Tracker()
    t.update([("car", box(0))])
    assert t.predictions() == [("car", box(0))]  # a new track stands still
    t.update([("car", box(3))])
    assert t.predictions() == [("car", box(6))]
    t.update([("car", box(6))])
    assert len(t.tracks) == 1 and t.tracks[0].age == 3
    assert t.predictions() == [("car", box(9))]


def test_a_missed_frame_coasts_then_the_track_is_dropped() -> None:
    t = Tracker(max_missed=2)
    t.update([("car", box(0))])
    t.update([("car", box(4))])
    t.update([])  # coasts to 8
    assert t.tracks[0].box == box(8) and t.tracks[0].missed == 1
    # Found again where the prediction says (12): the same track.
    seen = t.update([("car", box(12))])
    assert seen[0].id == 0 and seen[0].missed == 0 and seen[0].velocity == (4, 0, 4, 0)
    t.update([])
    t.update([])
    assert len(t.tracks) == 1
    t.update([])  # a third miss in a row
    assert t.tracks == []


def test_matching_is_by_iou_and_label() -> None:
    t = Tracker()
    t.update([("car", box(0)), ("person", box(100))])
    # The person moved onto the car's place and the car away: labels keep
    # them apart; a box far from every prediction starts a track.
    seen = t.update([("person", box(2)), ("car", box(1)), ("car", box(300))])
    assert [s.id for s in seen] == [2, 0, 3]
    assert {tr.id for tr in t.tracks} == {0, 1, 2, 3}
    assert t.tracks[1].missed == 1  # the person at 100 was not seen


def test_greedy_takes_the_best_overlap_first() -> None:
    t = Tracker(iou_threshold=0.1)
    t.update([("car", box(0)), ("car", box(8))])
    seen = t.update([("car", box(7))])  # overlaps track 1 (IoU 0.82) more than track 0
    assert seen[0].id == 1
    assert t.tracks[0].missed == 1


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_thresholds_at_the_ends(threshold: float) -> None:
    t = Tracker(iou_threshold=threshold)
    t.update([("car", box(0))])
    seen = t.update([("car", box(50))])  # no overlap at all
    assert (seen[0].id == 0) == (threshold == 0.0)
