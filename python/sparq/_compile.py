"""sparq.compile: a model compiled for the host CPU, called like a function."""

import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _sparq
from ._recipe import Recipe, recipe_text
from ._source import Source, rebuild, source_of, to_numpy
from ._sparq import InputError

Shapes = Optional[Mapping[str, Sequence[int]]]


class TensorSpec:
    """A model input or output: name, NumPy dtype name, shape (a run-time
    axis holds its bound) and which axes are set at run time."""

    def __init__(self, name: str, dtype: str, shape: Sequence[int],
                 runtime_axes: Sequence[int]) -> None:
        self.name, self.dtype = name, dtype
        self.shape: Tuple[int, ...] = tuple(shape)
        self.runtime_axes: Tuple[int, ...] = tuple(runtime_axes)

    def __repr__(self) -> str:
        dims = ", ".join(f"<={d}" if i in self.runtime_axes else str(d)
                         for i, d in enumerate(self.shape))
        return f"{self.name}: {self.dtype}[{dims}]"


class CompiledModel:
    """A model JIT-compiled for this machine's CPU.

    Call it with NumPy arrays or torch tensors, by position or by input
    name; it returns the same kind (one output alone, several as a tuple, a
    torch module's outputs nested as the module returns them). Inputs are
    read in place when they are C-contiguous with the model's dtype; the GIL
    is released while the model runs. A wrong count, shape or dtype raises
    ``sparq.InputError``.
    """

    def __init__(self, model: "_sparq.Model", source: Source) -> None:
        self._model = model
        self._structure = source.structure
        self.inputs: List[TensorSpec] = [TensorSpec(*s) for s in model.inputs]
        self.outputs: List[TensorSpec] = [TensorSpec(*s) for s in model.outputs]
        self.warnings: List[str] = list(model.warnings)

    @property
    def input_names(self) -> List[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> List[str]:
        return [s.name for s in self.outputs]

    def _arrays(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Tuple[List[np.ndarray], bool]:
        if len(args) > len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} inputs "
                             f"({', '.join(self.input_names)}), got {len(args)}")
        given: Dict[str, Any] = dict(zip(self.input_names, args))
        for name, value in kwargs.items():
            if name not in self.input_names:
                raise InputError(f"the model has no input named '{name}' "
                                 f"(inputs: {', '.join(self.input_names)})")
            if name in given:
                raise InputError(f"input '{name}' given twice")
            given[name] = value
        missing = [n for n in self.input_names if n not in given]
        if missing:
            raise InputError(f"missing input '{missing[0]}' (inputs: "
                             f"{', '.join(self.input_names)})")
        torch_in = False
        arrays = []
        for spec in self.inputs:
            value = given[spec.name]
            torch_in |= type(value).__module__.startswith("torch")
            a = to_numpy(value)
            want = "uint16" if spec.dtype == "bfloat16" else spec.dtype
            if a.dtype != np.dtype(want):
                raise InputError(f"input '{spec.name}' expects {spec.dtype}, "
                                 f"got {a.dtype}")
            arrays.append(np.ascontiguousarray(a))
        return arrays, torch_in

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arrays, torch_in = self._arrays(args, kwargs)
        outs: List[Any] = self._model.run(arrays)
        if torch_in:
            import torch
            outs = [torch.from_numpy(o).view(torch.bfloat16)
                    if s.dtype == "bfloat16" else torch.from_numpy(o)
                    for o, s in zip(outs, self.outputs)]
        if self._structure is not None:
            return rebuild(self._structure, outs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def __repr__(self) -> str:
        return (f"CompiledModel(inputs={self.inputs}, outputs={self.outputs})")


def _options(source: Source, shapes: Shapes) -> Tuple[Dict[str, List[int]], Dict[str, np.ndarray]]:
    """Explicit shapes by input name, and the example inputs by name (the
    compiler takes their shapes, and the values of small ones, as ``sparqc
    run`` does with its -i files: CompileOptions::addExample)."""
    fixed = {str(k): [int(d) for d in v] for k, v in (shapes or {}).items()}
    return fixed, dict(source.examples)


def _prepare(model: Any, example_inputs: Any, shapes: Shapes,
             dynamic: Optional[Mapping[str, Any]]):
    """The model's source, explicit shapes, examples, run-time axes by input
    and dim_param bounds, as the binding takes them."""
    dynamic = dict(dynamic or {})
    params = {str(n): int(b) for n, b in dynamic.items() if not isinstance(b, Mapping)}
    axes = {str(n): {int(a): int(b) for a, b in d.items()}
            for n, d in dynamic.items() if isinstance(d, Mapping)}
    # A torch module's run-time axes are named by the export.
    source = source_of(model, example_inputs, axes)
    fixed, examples = _options(source, shapes)
    return source, fixed, examples, axes, params


def targets() -> Dict[str, str]:
    """The targets built into this sparq, by name, with what their package
    holds (``sparqc compile --help`` lists the same)."""
    return dict(_sparq.targets())


def build(model: Any, out_dir: Any, example_inputs: Any = None, *,
          target: str = "host", recipe: Recipe = None, shapes: Shapes = None,
          dynamic: Optional[Mapping[str, Any]] = None, pass_pipeline: str = "",
          opt_level: int = 3) -> str:
    """Compiles a model ahead of time for a target and writes its package
    into ``out_dir`` (created), as ``sparqc compile --target TARGET -o
    OUT_DIR`` does; returns ``out_dir``. The arguments are
    :func:`compile`'s; :func:`targets` lists the targets.

    Raises:
        sparq.CompileError: the model could not be compiled for the target,
            or the target is not built in (the message lists those that are).
    """
    source, fixed, examples, axes, params = _prepare(model, example_inputs, shapes,
                                                     dynamic)
    out = str(out_dir)
    for w in _sparq.build_package(
            source.model, base_dir=source.base_dir, target=str(target), out_dir=out,
            recipe=recipe_text(recipe), shapes=fixed, examples=examples,
            dynamic_axes=axes, dim_params=params, pass_pipeline=pass_pipeline,
            opt_level=int(opt_level)):
        warnings.warn(w, stacklevel=2)
    return out


def compile(model: Any, example_inputs: Any = None, *, recipe: Recipe = None,
            shapes: Shapes = None,
            dynamic: Optional[Mapping[str, Any]] = None,
            target: str = "host", pass_pipeline: str = "",
            opt_level: int = 3) -> CompiledModel:
    """Compiles a model for the host CPU and returns it, ready to call.

    Args:
        model: an ONNX file path, ONNX bytes, an ``onnx.ModelProto``, or a
            ``torch.nn.Module`` (exported to ONNX in memory; its weights
            arrive exactly, so weights already pruned or ternary are
            detected and stored compressed).
        example_inputs: a tensor/array, a tuple of them (by position) or a
            dict by input name. Needed for a torch module; for an ONNX model
            they fix the shapes of its symbolic dimensions.
        recipe: compression, in ``sparqc``'s words: ``"prune=kernel:0.7"``,
            ``"ternary"``, ``"int4,group=128"``, ``"codebook=4"``,
            ``"pe-balance=32:0.9"``, ``"layers=conv*"`` (last), or the same
            as a dict (``{"prune": "2:4", "int8": True}``).
        shapes: static shapes by input name (``{"x": (1, 3, 224, 224)}``).
        dynamic: run-time axes and their bounds, by input name and axis
            (``{"ids": {1: 128}}``) or by the ONNX model's dim_param name
            (``{"batch": 8}``): buffers are sized at the bound, a call may
            use any extent up to it.
        target: "host" (the other targets are packages built by ``sparqc
            compile --target``).
        pass_pipeline: passes run on the graph IR after the recipe.
        opt_level: LLVM optimization level, 0-3.

    Raises:
        sparq.CompileError: the model could not be read or compiled (the
            message is the compiler's diagnostic, naming the ONNX node) or
            the recipe has a word it does not know.
    """
    if target != "host":
        raise _sparq.CompileError(
            f"sparq.compile runs models on the host; a package for target "
            f"'{target}' is written by sparq.build(model, out_dir, "
            f"target='{target}')")
    source, fixed, examples, axes, params = _prepare(model, example_inputs, shapes,
                                                     dynamic)
    compiled = _sparq.compile(
        source.model, base_dir=source.base_dir, recipe=recipe_text(recipe),
        shapes=fixed, examples=examples, dynamic_axes=axes, dim_params=params,
        pass_pipeline=pass_pipeline, opt_level=int(opt_level))
    for w in compiled.warnings:
        warnings.warn(w, stacklevel=2)
    return CompiledModel(compiled, source)
