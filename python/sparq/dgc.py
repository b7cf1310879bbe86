"""Deep Gradient Compression (Lin et al., ICLR 2018) as a DDP communication hook.

::

    model = DDP(net)
    state = sparq.dgc.DGCState(momentum=0.9)
    model.register_comm_hook(state, sparq.dgc.dgc_hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)   # no momentum here
    for epoch in range(epochs):
        state.set_epoch(epoch)                           # drives the warm-up
        ...

Each worker keeps, per parameter, a momentum ``u`` and an accumulated update
``v`` (momentum correction: ``u = m*u + g; v += u``), sends only the largest
entries of ``v`` (top-k by sampling), and zeroes ``u`` and ``v`` where it sent
(momentum factor masking). Gradient clipping, when asked, is local: each
worker clips each gradient to ``clip_norm / sqrt(workers)``. Biases and
normalization parameters (tensors of rank <= 1) are averaged dense, with the
same momentum. The density warms up over the first epochs, 25% -> 6.25% ->
1.5625% -> 0.4% -> 0.1%.

Momentum and weight decay move into the hook: give the optimizer
``momentum=0`` and ``weight_decay=0`` and pass them to :class:`DGCState`.
The learning rate and its schedule stay with the optimizer.

Selection, momentum correction, momentum masking and the message encoding
(16-bit relative indices, f32 values: 6 bytes an entry) run in sparq's C++
library. Values and indices are exchanged with ``all_gather`` (different
workers select different positions, which ``all_reduce`` cannot merge): one
gather of the message sizes, one of the messages padded to the largest, and
an ``all_reduce`` of the dense part. Works with any process group backend
that has these collectives (gloo, NCCL). Gradients on a GPU are compressed
there by sparq's CUDA kernels (``sparq._sparq_cuda``, built where nvcc is),
which send the same bytes as the host code; without them, on the host.
"""

import math
import warnings
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist

from . import _sparq

__all__ = ["DGCState", "dgc_hook"]

WARMUP = (0.25, 0.0625, 0.015625, 0.004)


class DGCState:
    """What the DGC hook keeps between steps, and its settings.

    Args:
        process_group: the group to exchange over (default: the world).
        momentum: the SGD momentum applied in the hook (momentum correction).
        density: the fraction of each gradient sent after the warm-up.
        warmup: the densities of the first epochs, one each.
        clip_norm: local gradient clipping: each worker scales a gradient
            whose L2 norm exceeds ``clip_norm / sqrt(workers)`` down to it.
        weight_decay: L2 decay added to each gradient before momentum.
        sample_fraction: the share of entries sampled to estimate the top-k
            threshold.
        seed: of the samples' positions.

    After each step, :attr:`bytes_sent` holds the bytes this worker has put
    on the wire (sizes, messages with their padding, the dense part) and
    :attr:`dense_bytes` what plain ``all_reduce`` of every gradient would
    have sent; :meth:`reset_counters` clears both.
    """

    def __init__(self, process_group: Optional[dist.ProcessGroup] = None,
                 momentum: float = 0.9, density: float = 0.001,
                 warmup: Sequence[float] = WARMUP, clip_norm: Optional[float] = None,
                 weight_decay: float = 0.0, sample_fraction: float = 0.01,
                 seed: int = 0) -> None:
        if not 0 < density <= 1 or any(not 0 < d <= 1 for d in warmup):
            raise ValueError("density and warmup: expect fractions in (0, 1]")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum: expects [0, 1), got {momentum}")
        self.process_group = process_group
        self.momentum, self.density = momentum, density
        self.warmup = tuple(warmup)
        self.clip_norm, self.weight_decay = clip_norm, weight_decay
        self.sample_fraction, self.seed = sample_fraction, seed
        self.epoch = 0
        self.steps = 0
        self.bytes_sent = 0
        self.dense_bytes = 0
        # Keyed by the parameter's storage: DDP may hand out new wrappers.
        self._u: Dict[int, torch.Tensor] = {}
        self._v: Dict[int, torch.Tensor] = {}

    def set_epoch(self, epoch: int) -> None:
        """Which epoch runs now (sets the warm-up's density)."""
        self.epoch = epoch

    def current_density(self) -> float:
        return self.warmup[self.epoch] if self.epoch < len(self.warmup) else self.density

    def reset_counters(self) -> None:
        self.bytes_sent = self.dense_bytes = 0

    def compression_ratio(self) -> float:
        """Dense bytes over the bytes sent, since the last reset."""
        return self.dense_bytes / self.bytes_sent if self.bytes_sent else 1.0

    def _buffers(self, param: torch.Tensor, sparse: bool, device: torch.device):
        key = param.data_ptr()
        u = self._u.get(key)
        if u is None:
            u = self._u[key] = torch.zeros(param.numel(), dtype=torch.float32,
                                           device=device)
            if sparse:
                self._v[key] = torch.zeros_like(u)
        return u, self._v.get(key)


def _local_gradient(state: DGCState, param: torch.Tensor, grad: torch.Tensor,
                    workers: int, device: torch.device) -> torch.Tensor:
    g = grad.detach().reshape(-1).to(device, torch.float32)
    if state.weight_decay:
        g = g + state.weight_decay * param.detach().reshape(-1).to(device, torch.float32)
    if state.clip_norm is not None:
        limit = state.clip_norm / math.sqrt(workers)
        norm = float(torch.linalg.vector_norm(g))
        if norm > limit:
            g = g * (limit / norm)
    return g.contiguous()


_CUDA = None


def _cuda_module():
    """sparq._sparq_cuda when it was built (nvcc found) and a GPU answers;
    otherwise None, after one warning saying why."""
    global _CUDA
    if _CUDA is None:
        why = None
        try:
            from . import _sparq_cuda
            ok, why = _sparq_cuda.available()
            _CUDA = _sparq_cuda if ok else False
        except ImportError:
            why = "sparq was built without nvcc"
            _CUDA = False
        if not _CUDA:
            warnings.warn(f"sparq.dgc: CUDA gradients are compressed on the host "
                          f"({why})")
    return _CUDA or None


def dgc_hook(state: DGCState, bucket: dist.GradBucket
             ) -> torch.futures.Future[torch.Tensor]:
    """The DDP communication hook: returns the bucket's averaged, compressed
    gradient (see the module's documentation)."""
    group = state.process_group if state.process_group is not None else dist.group.WORLD
    workers = dist.get_world_size(group)
    buffer = bucket.buffer()
    params, grads = bucket.parameters(), bucket.gradients()
    density = state.current_density()
    cuda = _cuda_module() if buffer.is_cuda else None
    # Where the state lives and the work runs: the GPU with sparq's CUDA
    # kernels, else the host (gradients copied there and back).
    device = buffer.device if cuda else torch.device("cpu")

    us, vs, gs, ks, offsets, seeds, dense = [], [], [], [], [], [], []
    offset = 0
    for index, (param, grad) in enumerate(zip(params, grads)):
        n = grad.numel()
        sparse = param.dim() > 1
        u, v = state._buffers(param, sparse, device)
        us.append(u)
        vs.append(v)
        gs.append(_local_gradient(state, param, grad, workers, device))
        ks.append(max(1, int(round(density * n))) if sparse else 0)
        offsets.append(offset)
        seeds.append(((state.seed * 1_000_003 + state.steps) * 65_537 + index)
                     % 2**64)
        if not sparse:
            dense.append((offset, u))
        offset += n
    if offset != buffer.numel():
        raise RuntimeError(f"dgc_hook: the bucket's gradients hold {offset} values, "
                           f"its buffer {buffer.numel()}")

    # Momentum correction, selection, masking and the message: one C++ (or
    # CUDA) call.
    if cuda:
        ptr = [t.data_ptr() for t in us], [0 if t is None else t.data_ptr() for t in vs]
        ns = [t.numel() for t in us]
        capacity = cuda.capacity(ptr[0], ptr[1], ns, ks, offsets)
        message = torch.empty(capacity, dtype=torch.uint8, device=device)
        stream = torch.cuda.current_stream(device).cuda_stream
        used = cuda.compress(ptr[0], ptr[1], [g.data_ptr() for g in gs], ns, ks,
                             offsets, seeds, state.momentum, state.sample_fraction,
                             message.data_ptr(), capacity, stream)
        message = message[:used]
    else:
        message = torch.from_numpy(_sparq.dgc_compress(
            [u.numpy() for u in us], [None if v is None else v.numpy() for v in vs],
            [g.numpy() for g in gs], ks, offsets, seeds, state.momentum,
            state.sample_fraction))

    # The exchange: sizes, messages padded to the longest, the dense part.
    size = torch.tensor([message.numel()], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(workers)]
    dist.all_gather(sizes, size, group=group)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[:message.numel()] = message
    gathered = [torch.empty_like(padded) for _ in range(workers)]
    dist.all_gather(gathered, padded, group=group)
    rows = torch.stack(gathered)

    total = torch.zeros(buffer.numel(), dtype=torch.float32, device=device)
    if cuda:
        cuda.unpack_add(rows.data_ptr(), workers, longest, total.data_ptr(),
                        total.numel(), torch.cuda.current_stream(device).cuda_stream)
    else:
        _sparq.dgc_unpack_add(rows.numpy(), total.numpy())
    sent = size.numel() * 8 + longest
    if dense:
        flat = torch.cat([u for _, u in dense])
        dist.all_reduce(flat, group=group)
        at = 0
        for off, u in dense:
            total[off:off + u.numel()] = flat[at:at + u.numel()]
            at += u.numel()
        sent += flat.numel() * 4
    total /= workers

    state.bytes_sent += sent
    state.dense_bytes += buffer.numel() * 4
    if bucket.is_last():
        state.steps += 1
    result = total.to(buffer.device, buffer.dtype)
    future: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    future.set_result(result)
    return future
