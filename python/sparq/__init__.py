"""sparq: a compiler for compressed neural networks.

Compile an ONNX model or a PyTorch module for the host CPU, with or without a
compression recipe, and call it like a function::

    import sparq
    model = sparq.compile(net, example_inputs=(x,), recipe="prune=kernel:0.7")
    y = model(x)
    for layer in sparq.report(net, recipe="ternary", example_inputs=(x,)):
        print(layer.name, layer.ratio)

Everything here calls the same C++ compiler that ``sparqc`` runs; the
training helpers (``sparq.train``, ``sparq.dgc``) compute masks, codes and
compressed gradients in that C++ library too.
"""

from ._sparq import CompileError, Error, InputError
from ._compile import CompiledModel, build, compile, targets
from ._report import Layer, Report, report
from ._threads import get_num_threads, set_num_threads
from ._recipe import recipe_pipeline



def __getattr__(name: str):
    # sparq.train and sparq.dgc need torch: imported on first use.
    if name in ("train", "dgc"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sparq' has no attribute '{name}'")


__all__ = [
    "CompileError",
    "CompiledModel",
    "Error",
    "InputError",
    "Layer",
    "Report",
    "build",
    "compile",
    "get_num_threads",
    "recipe_pipeline",
    "report",
    "set_num_threads",
    "targets",
]
