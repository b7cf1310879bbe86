"""Video detection: delay metrics (`sparq.video.metrics`: AD, mD and AP),
and `python -m sparq.video`, which prints them for detections and ground
truth given per frame."""

from . import metrics  # noqa: F401
