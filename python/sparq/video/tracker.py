"""The tracker of a CaTDet cascade: IoU matching with constant-velocity
prediction. It predicts where each object will be in the next frame, so
that the refinement network looks there even when the proposal network
misses it.

Each track keeps its last box and velocity (the last box minus the one
before, per coordinate; zero for a new track). Each frame:

1. Every track predicts its box: last box plus velocity.
2. Detections are matched to predictions greedily by IoU, highest first,
   same label only, IoU >= `iou_threshold`.
3. A matched track takes the detection's box, and its velocity becomes the
   box's change since the track's last box.
4. An unmatched track coasts on its prediction and counts a miss. After
   more than `max_missed` misses in a row it is dropped.
5. An unmatched detection starts a track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .metrics import Box, iou


@dataclass
class Track:
    id: int
    label: str
    box: Box
    velocity: Box = (0.0, 0.0, 0.0, 0.0)
    missed: int = 0
    age: int = 1  # frames since it started

    def predicted(self) -> Box:
        return tuple(b + v for b, v in zip(self.box, self.velocity))  # type: ignore[return-value]


@dataclass
class Tracker:
    iou_threshold: float = 0.3
    max_missed: int = 2
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 0

    def predictions(self) -> list[tuple[str, Box]]:
        """(label, box) where each live track expects its object next frame."""
        return [(t.label, t.predicted()) for t in self.tracks]

    def update(self, detections: Sequence[tuple[str, Box]]) -> list[Track]:
        """Takes one frame's detections, (label, box) each; returns the
        tracks matched or started in it."""
        predicted = [t.predicted() for t in self.tracks]
        pairs = sorted(((iou(p, d[1]), ti, di) for ti, p in enumerate(predicted)
                        for di, d in enumerate(detections)
                        if self.tracks[ti].label == d[0]), reverse=True)
        track_of: dict[int, int] = {}
        used: set[int] = set()
        for v, ti, di in pairs:
            if v < self.iou_threshold:
                break
            if ti in track_of.values() or di in used:
                continue
            track_of[di] = ti
            used.add(di)
        seen = []
        matched_tracks = set(track_of.values())
        for ti, t in enumerate(self.tracks):
            if ti in matched_tracks:
                continue
            t.box, t.missed = predicted[ti], t.missed + 1
            t.age += 1
        for di, (label, box) in enumerate(detections):
            if di in track_of:
                t = self.tracks[track_of[di]]
                t.velocity = tuple(n - o for n, o in zip(box, t.box))  # type: ignore[assignment]
                t.box, t.missed = tuple(box), 0  # type: ignore[assignment]
                t.age += 1
            else:
                t = Track(self._next_id, label, tuple(box))  # type: ignore[arg-type]
                self._next_id += 1
                self.tracks.append(t)
            seen.append(t)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return seen
