"""Compression recipes: the words of ``sparqc``'s recipe flags.

A recipe is a string, ``"prune=kernel:0.7,ternary"``, or a dict,
``{"prune": "kernel:0.7", "ternary": True}``. The C++ compiler parses it
(compiler/Recipe.h); this module only spells a dict as the string.
"""

from typing import Mapping, Union

from . import _sparq

Recipe = Union[None, str, Mapping[str, object]]


def recipe_text(recipe: Recipe) -> str:
    """The recipe as the comma-separated words the compiler parses.

    Dict keys are recipe words (``pe_balance`` may be written for
    ``pe-balance``); ``True`` gives the bare word, ``False`` or ``None``
    leaves it out (``detect=False`` is ``no-detect``, ``fuse=False``
    ``no-fuse``), a number or string is
    its value, and ``layers`` may be a list of patterns.
    """
    if recipe is None:
        return ""
    if isinstance(recipe, str):
        return recipe
    if not isinstance(recipe, Mapping):
        raise TypeError(f"recipe must be a str or a dict, got {type(recipe).__name__}")
    words, layers = [], None
    for key, value in recipe.items():
        name = str(key).replace("_", "-")
        if name in ("detect", "fuse"):
            if value is False:
                words.append(f"no-{name}")
            continue
        if name == "layers" and value is not None:
            layers = value if isinstance(value, str) else ",".join(map(str, value))
            continue
        if value is None or value is False:
            continue
        words.append(name if value is True else f"{name}={value}")
    # layers= takes the rest of the string: it comes last.
    if layers is not None:
        words.append(f"layers={layers}")
    return ",".join(words)


def recipe_pipeline(recipe: Recipe) -> str:
    """The pass pipeline a recipe runs (``sparqc --pass-pipeline``'s long
    form); raises ``sparq.CompileError`` naming a word it does not know."""
    return _sparq.recipe_pipeline(recipe_text(recipe))

