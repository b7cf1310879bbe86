"""sparq.report: per layer, how a recipe stores its weights."""

import json
import os
import warnings
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Union

from . import _sparq
from ._compile import Shapes, _options
from ._recipe import Recipe, recipe_text
from ._source import source_of


class Layer(SimpleNamespace):
    """One row of the report, with the fields of ``sparqc report --json``:
    name, op, parameters, bytes, stored_bytes, ratio, macs,
    effective_macs and weights (one namespace per weight: shape, pattern,
    format, density, bits_per_weight, dense_bytes, bytes, ratio, and the
    PE balance fields when the recipe balanced them)."""


class Report(List[Layer]):
    """The layers in graph order; ``totals`` sums them, ``fusions`` lists the
    domain patterns fused into one op (op, name, detail, unfused_bytes,
    fused_bytes: a BEV pooling's frustum chain against its plan) and
    ``table`` is the text ``sparqc report`` prints."""

    def __init__(self, layers: List[Layer], totals: SimpleNamespace, table: str,
                 fusions: Optional[List[SimpleNamespace]] = None) -> None:
        super().__init__(layers)
        self.totals = totals
        self.table = table
        self.fusions = fusions or []

    def __str__(self) -> str:
        return self.table


def _namespaces(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespaces(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespaces(v) for v in value]
    return value


def report(model: Any, recipe: Recipe = None, *, example_inputs: Any = None,
           shapes: Shapes = None,
           html: Optional[Union[str, os.PathLike]] = None) -> Report:
    """Compresses `model` with `recipe` and reports every layer.

    Takes the same models, example inputs and recipes as ``sparq.compile``.
    `html`, if given, is a file to write the report's page to (tables and
    each layer's sparsity pattern).
    """
    source = source_of(model, example_inputs)
    fixed, examples = _options(source, shapes)
    text, table, page, notes = _sparq.report(
        source.model, base_dir=source.base_dir, recipe=recipe_text(recipe),
        shapes=fixed, examples=examples, title=f"sparq report: {source.title}")
    for w in notes:
        warnings.warn(w, stacklevel=2)
    data: Dict[str, Any] = json.loads(text)
    layers = [Layer(**{k: _namespaces(v) for k, v in row.items()})
              for row in data["layers"]]
    if html is not None:
        with open(html, "w", encoding="utf-8") as f:
            f.write(page)
    return Report(layers, _namespaces(data["totals"]), table,
                  _namespaces(data.get("fusions", [])))
