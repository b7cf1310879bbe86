"""Compression while training: DSD, TTQ and ESE's load-balance-aware pruning.

Every mask and every ternary code is computed by sparq's C++ formats library
(the code behind ``sparq-prune``, ``sparq-ternarize`` and
``sparq-pe-balance``); this module only applies them to PyTorch parameters.
What training produces reaches :func:`sparq.compile` losslessly: pruned
weights are exact zeros and exported TTQ weights hold exactly three values,
so the compiler's detection stores them sparse and 2-bit.

Masks are enforced after every optimizer step when the optimizer is given
(``optimizer=``), else before every forward pass of the model; gradients of
pruned weights are zeroed so momentum does not build up there.
"""

import copy
import fnmatch
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from . import _sparq

__all__ = ["DSD", "TTQ", "LoadBalancedPruning", "compressible_weights"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)


def compressible_weights(model: nn.Module, layers: Optional[Iterable[str]] = None,
                         kinds: Tuple[type, ...] = _CONV + (nn.Linear,) + _RECURRENT
                         ) -> List[Tuple[str, nn.Module, str]]:
    """The (module name, module, parameter name) of every weight sparq
    compresses: convolution and linear weights, and the input and recurrent
    matrices of LSTM/GRU/RNN layers, in module order. ``layers`` keeps the
    modules whose name matches one of its names or fnmatch patterns; a
    pattern that matches nothing is a ValueError."""
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, kinds):
            continue
        if isinstance(module, _RECURRENT):
            params = [n for n, _ in module.named_parameters(recurse=False)
                      if n.startswith("weight_")]
        else:
            params = ["weight"]
        found += [(name, module, p) for p in params]
    if layers is None:
        return found
    layers = [layers] if isinstance(layers, str) else list(layers)
    kept = []
    for pattern in layers:
        hits = [f for f in found if fnmatch.fnmatchcase(f[0], pattern)]
        if not hits:
            names = sorted({f[0] for f in found})
            raise ValueError(f"layers: '{pattern}' matches no layer; the model's "
                             f"compressible layers are {names}")
        kept += [h for h in hits if h not in kept]
    return [f for f in found if f in kept]


def _key(module: str, param: str) -> str:
    return f"{module}.{param}" if module else param


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A float32 C-contiguous array of t's values (t's own memory on CPU)."""
    t = t.detach()
    if t.device.type != "cpu" or t.dtype != torch.float32:
        t = t.to("cpu", torch.float32)
    return t.contiguous().numpy()


class _MaskedWeights:
    """Keep-masks on parameters, enforced after optimizer steps (or, without
    an optimizer, before forward passes) and on gradients."""

    def __init__(self, model: nn.Module, optimizer: Optional[torch.optim.Optimizer]):
        self.model = model
        self.optimizer = optimizer
        self.masks: Dict[str, torch.Tensor] = {}
        self._params: Dict[str, nn.Parameter] = {}
        self._handles: list = []
        self._step = None

    def _set_masks(self, masks: Dict[str, Tuple[nn.Parameter, np.ndarray]]) -> None:
        self._release()
        for key, (param, mask) in masks.items():
            self._params[key] = param
            self.masks[key] = torch.from_numpy(mask).to(param.device, param.dtype)
            self._handles.append(param.register_hook(
                lambda g, m=self.masks[key]: g * m))
        if self.optimizer is None:
            self._handles.append(self.model.register_forward_pre_hook(
                lambda module, inputs: self._before_forward()))
        else:
            opt, step = self.optimizer, self.optimizer.step

            def step_then_mask(*args, **kwargs):
                result = step(*args, **kwargs)
                self.apply()
                return result
            self._step = step
            opt.step = step_then_mask
        self.apply()

    def apply(self) -> None:
        """Zero every pruned weight now."""
        with torch.no_grad():
            for key, mask in self.masks.items():
                self._params[key].mul_(mask)

    def _before_forward(self) -> None:
        # Not while torch.onnx.export traces the model: the in-place product
        # would be recorded into the graph (the weights are masked already).
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self.apply()

    def _release(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._step is not None:
            self.optimizer.step = self._step
            self._step = None
        self.masks, self._params = {}, {}

    def density(self) -> Dict[str, float]:
        """The fraction of each masked weight that is kept."""
        return {k: float(m.mean()) for k, m in self.masks.items()}


class DSD(_MaskedWeights):
    """Dense-Sparse-Dense training (Han et al., ICLR 2017).

    Train dense, call :meth:`sparse` to prune each weight by magnitude and
    retrain under the mask, then :meth:`redense` to drop the mask and train
    the pruned weights again from zero::

        dsd = sparq.train.DSD(model, sparsity=0.5, optimizer=opt)
        train(epochs)           # dense
        dsd.sparse()            # masks from sparq-prune's magnitude pruning
        train(epochs)
        dsd.redense()
        train(epochs)

    ``granularity`` is any of sparq-prune's: "element", "vector", "kernel",
    "filter", "channel", "block4x4", "2:4". ``layers`` selects modules by
    name or fnmatch pattern (default: every conv, linear and recurrent
    weight). Weights a granularity cannot take (a kernel on a matrix) raise
    ValueError naming the layer.
    """

    def __init__(self, model: nn.Module, sparsity: float, granularity: str = "element",
                 layers: Optional[Iterable[str]] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        super().__init__(model, optimizer)
        if not 0 <= sparsity <= 1:
            raise ValueError(f"sparsity: expects a ratio in [0, 1], got {sparsity}")
        self.sparsity, self.granularity = sparsity, granularity
        self.weights = compressible_weights(model, layers)
        self.phase = "dense"

    def dense(self) -> "DSD":
        """The dense phase: no mask (the state a new DSD starts in)."""
        self._release()
        self.phase = "dense"
        return self

    def sparse(self) -> "DSD":
        """Prune every selected weight to ``sparsity`` by magnitude at the
        granularity, and keep the pruned weights at zero from now on."""
        masks = {}
        for name, module, pname in self.weights:
            param = getattr(module, pname)
            try:
                mask = _sparq.prune_mask(_numpy(param), self.granularity, self.sparsity)
            except ValueError as e:
                raise ValueError(f"layer '{name}' ({pname}, shape "
                                 f"{list(param.shape)}): {e}") from None
            masks[_key(name, pname)] = (param, mask)
        self._set_masks(masks)
        self.phase = "sparse"
        return self

    def redense(self) -> "DSD":
        """Drop the masks: the pruned weights restart from zero."""
        self.apply()
        self._release()
        self.phase = "redense"
        return self


class LoadBalancedPruning(_MaskedWeights):
    """ESE's load-balance-aware pruning (Han et al., FPGA 2017).

    Rows of each Linear weight and each LSTM/GRU matrix are interleaved over
    ``pes`` processing elements (row i on PE i % pes), and every PE's rows are
    pruned by magnitude to the same density, so each PE gets the same number
    of non-zeros. The masks hold while retraining. Compile with the recipe
    word ``pe-balance=PES:0`` (interleave over PES, prune nothing more) to
    store the weights as interleaved CSC; the report then shows a balance of
    1.0 before and after.

    Weights with fewer rows than PEs are left dense (a PE without rows has
    nothing to balance); :attr:`skipped` names them. An LSTM keeps its
    balance through ONNX's reordering of the gates when its hidden size is a
    multiple of ``pes``.
    """

    def __init__(self, model: nn.Module, pes: int = 32, sparsity: float = 0.9,
                 layers: Optional[Iterable[str]] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        super().__init__(model, optimizer)
        self.pes, self.sparsity = pes, sparsity
        self.skipped: List[str] = []
        masks = {}
        for name, module, pname in compressible_weights(
                model, layers, kinds=(nn.Linear,) + _RECURRENT):
            param = getattr(module, pname)
            if param.shape[0] < pes:
                self.skipped.append(_key(name, pname))
                continue
            masks[_key(name, pname)] = (param, _sparq.balanced_prune_mask(
                _numpy(param), pes, sparsity))
        if not masks:
            raise ValueError(f"no Linear or recurrent weight has at least {pes} rows "
                             f"to balance over {pes} PEs")
        self._set_masks(masks)

    def balance(self) -> Dict[str, float]:
        """Each weight's balance efficiency (mean / max non-zeros per PE)."""
        return {k: _sparq.pe_load(_numpy(p), self.pes)[1]
                for k, p in self._params.items()}

    def remove(self) -> None:
        """Stop enforcing the masks (the weights stay as they are)."""
        self._release()


class _TernaryWeight(torch.autograd.Function):
    """TTQ's quantizer: w_t = +Wp where w > delta, -Wn where w < -delta, else
    0, with delta = t * max|w| (codes from C++). Gradients: dL/dWp sums the
    gradient over the positive codes, dL/dWn minus the sum over the negative
    ones; the latent weight gets the gradient scaled by Wp, 1 and Wn on the
    three parts (Zhu et al., ICLR 2017, eqs. 7-8)."""

    @staticmethod
    def forward(ctx, latent, wp, wn, threshold):
        codes, _, _ = _sparq.ternary_codes(_numpy(latent), threshold)
        codes = torch.from_numpy(codes).to(latent.device)
        pos, neg = codes > 0, codes < 0
        ctx.save_for_backward(pos, neg, wp, wn)
        zero = torch.zeros((), dtype=latent.dtype, device=latent.device)
        return torch.where(pos, wp, torch.where(neg, -wn, zero))

    @staticmethod
    def backward(ctx, grad):
        pos, neg, wp, wn = ctx.saved_tensors
        grad_wp = grad[pos].sum().reshape(wp.shape)
        grad_wn = -grad[neg].sum().reshape(wn.shape)
        scale = torch.where(pos, wp, torch.where(neg, wn, torch.ones_like(wp)))
        return grad * scale, grad_wp, grad_wn, None


class _Ternarized(nn.Module):
    """The parametrization TTQ puts on a weight: learned Wp and Wn."""

    def __init__(self, latent: torch.Tensor, threshold: float) -> None:
        super().__init__()
        _, wp, wn = _sparq.ternary_codes(_numpy(latent), threshold)
        self.threshold = threshold
        self.wp = nn.Parameter(torch.tensor(wp, dtype=latent.dtype, device=latent.device))
        self.wn = nn.Parameter(torch.tensor(wn, dtype=latent.dtype, device=latent.device))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return _TernaryWeight.apply(latent, self.wp, self.wn, self.threshold)


class TTQ:
    """Trained Ternary Quantization (Zhu et al., ICLR 2017).

    Each selected conv and linear weight becomes {-Wn, 0, +Wp} in the forward
    pass, with Wp and Wn learned per layer (initialized to the mean magnitude
    of each side) and the full-precision latent weights trained through
    scaled straight-through gradients. Build the optimizer after TTQ so it
    sees Wp and Wn (``model.parameters()`` lists them)::

        ttq = sparq.train.TTQ(model)                  # first, last layer stay fp32
        opt = torch.optim.Adam(model.parameters())
        train(epochs)
        ternary = ttq.export()    # weights exactly ternary: compiles to 2 bits

    ``threshold`` is TTQ's t (delta = t * max|w|); ``skip_first_last`` keeps
    the first and last layers in full precision, as the paper does.
    """

    def __init__(self, model: nn.Module, threshold: float = 0.05,
                 skip_first_last: bool = True,
                 layers: Optional[Iterable[str]] = None) -> None:
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold: expects t in [0, 1), got {threshold}")
        self.model, self.threshold = model, threshold
        weights = compressible_weights(model, layers, kinds=_CONV + (nn.Linear,))
        if skip_first_last and layers is None:
            weights = weights[1:-1]
        if not weights:
            raise ValueError("TTQ: no conv or linear layer to ternarize "
                             "(the first and last are kept in full precision)")
        self.layers: List[str] = []
        for name, module, pname in weights:
            parametrize.register_parametrization(
                module, pname, _Ternarized(getattr(module, pname), threshold))
            self.layers.append(name)

    def scales(self) -> Dict[str, Tuple[float, float]]:
        """(Wp, Wn) of each ternary layer."""
        out = {}
        for name, module in self.model.named_modules():
            if name in self.layers:
                p = module.parametrizations.weight[0]
                out[name] = (float(p.wp), float(p.wn))
        return out

    def export(self) -> nn.Module:
        """A copy of the model with plain weights, the ternary ones holding
        exactly {-Wn, 0, +Wp}: what sparq.compile stores at 2 bits."""
        out = copy.deepcopy(self.model)
        for name, module in out.named_modules():
            if name in self.layers:
                parametrize.remove_parametrizations(module, "weight",
                                                    leave_parametrized=True)
        return out
