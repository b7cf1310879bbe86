"""The host kernels' thread count, for every model this process runs."""

from . import _sparq


def set_num_threads(threads: int) -> None:
    """Sets how many threads the host kernels use (at least 1).

    The default is ``SPARQ_NUM_THREADS`` from the environment, else 2.
    Outputs do not depend on it: kernels split outputs, never a sum.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"set_num_threads expects a count >= 1, got {threads!r}")
    _sparq.set_num_threads(threads)


def get_num_threads() -> int:
    """The host kernels' thread count."""
    return _sparq.num_threads()
