"""Video detection: delay metrics (`sparq.video.metrics`: AD, mD and AP),
`python -m sparq.video`, which prints them for detections and ground truth
given per frame, CaTDet's cascade over compiled networks
(`sparq.video.Cascade`) and its tracker (`sparq.video.tracker`)."""

from . import metrics, tracker  # noqa: F401
from .cascade import Cascade, CascadeResult, FrameReport  # noqa: F401
