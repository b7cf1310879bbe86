"""Video detection: delay metrics (`sparq.video.metrics`: AD, mD and AP),
`python -m sparq.video`, which prints them for detections and ground truth
given per frame, and the cascade's tracker (`sparq.video.tracker`)."""

from . import metrics, tracker  # noqa: F401
