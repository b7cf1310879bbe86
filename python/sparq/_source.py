"""What the compiler reads: an ONNX model from a path, bytes, an
``onnx.ModelProto`` or a ``torch.nn.Module`` exported in memory."""

import inspect
import io
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._sparq import CompileError


@dataclass
class Source:
    """A model as the C++ compiler takes it, and what the call needs."""

    model: Union[str, bytes]
    base_dir: str = ""
    # Example inputs by graph input name (NumPy), which fix shapes.
    examples: Dict[str, np.ndarray] = field(default_factory=dict)
    # For a torch module: how its outputs nest (see _structure_of).
    structure: Any = None
    title: str = "model"


def _is_torch_module(model: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def to_numpy(value: Any) -> np.ndarray:
    """An array or tensor as NumPy, sharing its memory when it can."""
    if isinstance(value, np.ndarray):
        return value
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16)
        return t.numpy()
    return np.asarray(value)


def _as_tuple(example_inputs: Any) -> Tuple[Any, ...]:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, (list, tuple)):
        return tuple(example_inputs)
    return (example_inputs,)


def _graph_input_names(model: Union[str, bytes]) -> List[str]:
    """The graph inputs that are not initializers, in order (for example
    inputs given by position)."""
    try:
        import onnx
    except ImportError as e:
        raise CompileError(
            "example inputs given by position need the onnx package to read "
            "the model's input names; give them as a dict by name") from e
    proto = (onnx.load_from_string(model) if isinstance(model, bytes) else
             onnx.load(model, load_external_data=False))
    initializers = {t.name for t in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers]


def _structure_of(value: Any) -> Any:
    """How a module's outputs nest: None for a tensor, else a list of the
    items' structures tagged with the container type."""
    if isinstance(value, (list, tuple)):
        return (type(value), [_structure_of(v) for v in value])
    return None


def _export_torch(module: Any, example_inputs: Any,
                  dynamic: Optional[Mapping[str, Mapping[int, int]]]) -> Source:
    import torch

    if isinstance(example_inputs, Mapping):
        raise CompileError("a torch.nn.Module's example_inputs are positional: "
                           "a tensor or a tuple of tensors, not a dict")
    args = _as_tuple(example_inputs)
    if not args:
        raise CompileError(
            "compiling a torch.nn.Module needs example_inputs (a tensor or "
            "a tuple of tensors) to export it")
    params = [p for p in inspect.signature(module.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params[:len(args)]]
    names += [f"input_{i}" for i in range(len(names), len(args))]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            structure = _structure_of(module(*args))
        flat = _count_leaves(structure)
        outputs = [f"output_{i}" for i in range(flat)]
        axes = {name: {int(a): f"{name}_{a}" for a in dims}
                for name, dims in (dynamic or {}).items()}
        buffer = io.BytesIO()
        # Grad stays enabled while exporting: under no_grad, eval-mode
        # nn.MultiheadAttention takes a fused path torch cannot export.
        # Opset 16: below it, torch exports scatter_add as a ScatterElements
        # that overwrites repeated indices (wrong for BEV pooling's cells).
        torch.onnx.export(module, args, buffer, input_names=names,
                          output_names=outputs, opset_version=16,
                          dynamic_axes=axes or None)
    finally:
        module.train(was_training)
    examples = {n: to_numpy(a) for n, a in zip(names, args)}
    return Source(buffer.getvalue(), examples=examples, structure=structure,
                  title=type(module).__name__)


def _count_leaves(structure: Any) -> int:
    if structure is None:
        return 1
    return sum(_count_leaves(s) for s in structure[1])


def rebuild(structure: Any, flat: Sequence[Any]) -> Any:
    """The flat outputs nested as the module returned them."""
    it = iter(flat)

    def build(s: Any) -> Any:
        if s is None:
            return next(it)
        kind, items = s
        return kind(build(i) for i in items)

    return build(structure)


def source_of(model: Any, example_inputs: Any = None,
              dynamic: Optional[Mapping[str, Mapping[int, int]]] = None) -> Source:
    """Reads `model` (path, bytes, ModelProto or torch module) and names its
    example inputs."""
    if _is_torch_module(model):
        return _export_torch(model, example_inputs, dynamic)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise CompileError(f"cannot open model '{path}': no such file")
        src = Source(path, base_dir=os.path.dirname(os.path.abspath(path)),
                     title=os.path.basename(path))
    elif isinstance(model, (bytes, bytearray, memoryview)):
        src = Source(bytes(model), title="model")
    elif hasattr(model, "SerializeToString") and hasattr(model, "graph"):
        src = Source(model.SerializeToString(), title=model.graph.name or "model")
    else:
        raise TypeError(
            "model must be an ONNX path, ONNX bytes, an onnx.ModelProto or a "
            f"torch.nn.Module, got {type(model).__name__}")
    if isinstance(example_inputs, Mapping):
        src.examples = {str(k): to_numpy(v) for k, v in example_inputs.items()}
    elif example_inputs is not None:
        values = _as_tuple(example_inputs)
        names = _graph_input_names(src.model)
        if len(values) > len(names):
            raise CompileError(f"{len(values)} example inputs given; the model "
                               f"takes {len(names)} ({', '.join(names)})")
        src.examples = {n: to_numpy(v) for n, v in zip(names, values)}
    return src
