"""Plain text the chapters print: numbers, tables, layers and shape mismatches in the kit's words.

A chapter's printed output is part of the lesson, and the tests compare it with the committed
one. PyTorch's and pandas' own ways of printing (`tensor([...], dtype=torch.float64)`,
`Linear(in_features=...)`, a DataFrame's column spacing, the wording of an error) change between
versions; the kit's sentences do not. So the chapters print through these functions.

>>> print(numbers(torch.tensor([[0.09003, 0.24473], [float("nan"), 1.0]])))
[[0.0900, 0.2447],
 [   nan, 1.0000]]
"""
from __future__ import annotations

import ast
import inspect
import math
import textwrap

import torch
from torch import nn


def _number(value: float, decimals: int) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{decimals}f}"


def numbers(values, decimals: int = 4) -> str:
    """A tensor (or list) of numbers as text with a fixed number of decimals, one row per line.

    >>> numbers(torch.tensor([-200.0, 0.0]))
    '[-200.0000, 0.0000]'
    """
    tensor = torch.as_tensor(values).detach().double().cpu()
    if tensor.dim() == 0:
        return _number(tensor.item(), decimals)
    if tensor.dim() == 1:
        return "[" + ", ".join(_number(v, decimals) for v in tensor.tolist()) + "]"
    rows = [[_number(v, decimals) for v in row] for row in tensor.reshape(-1, tensor.shape[-1]).tolist()]
    width = max(len(cell) for row in rows for cell in row)
    lines = ["[" + ", ".join(cell.rjust(width) for cell in row) + "]" for row in rows]
    return "[" + ",\n ".join(lines) + "]"


def memory_size(size: int) -> str:
    """A number of bytes in the largest unit that keeps it at 1 or more (1 GB = 1,000,000,000 bytes).

    >>> memory_size(3_932_160_000), memory_size(900)
    ('3.9 GB', '900 bytes')
    """
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def duration(seconds: float) -> str:
    """A rough duration a learner reads at a glance: seconds, whole minutes, or hours and minutes.

    >>> duration(14.6), duration(125), duration(4000)
    ('15 s', '2 min', '1 h 7 min')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _looks_numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").replace("%", "").replace("-", "").replace("+", "").strip().isdigit()


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of a table as aligned text: a header line, then one line per row.

    Cells are shown with `str`; columns whose cells are all numbers are aligned to the right.

    >>> print(table([{"stage": "stem", "params": "464"}, {"stage": "head", "params": "1,290"}]))
    stage  params
    stem      464
    head    1,290
    """
    if columns is None:
        columns = list(rows[0]) if rows else []
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    right = [bool(cells) and all(_looks_numeric(line[i]) or line[i] == "" for line in cells)
             for i in range(len(columns))]

    def line(values):
        return "  ".join(value.rjust(width) if r else value.ljust(width)
                         for value, width, r in zip(values, widths, right)).rstrip()

    return "\n".join([line(columns)] + [line(values) for values in cells])


def layer(module: nn.Module) -> str:
    """One layer in words: what it computes and its sizes.

    >>> layer(nn.Conv2d(3, 6, 5))
    'conv 3 -> 6 channels, 5x5'
    """
    if isinstance(module, nn.Conv2d):
        kernel = "x".join(map(str, module.kernel_size))
        words = f"conv {module.in_channels} -> {module.out_channels} channels, {kernel}"
        if module.stride != (1, 1):
            words += f", stride {module.stride[0]}"
        if module.padding not in ((0, 0), "valid"):
            words += f", padding {module.padding[0] if isinstance(module.padding, tuple) else module.padding}"
        return words
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features} -> {module.out_features}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"batchnorm over {module.num_features} channels"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        size = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        return f"{'max' if isinstance(module, nn.MaxPool2d) else 'average'}-pool {size}x{size}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        kind = "average" if isinstance(module, nn.AdaptiveAvgPool2d) else "max"
        return f"global {kind}-pool" if module.output_size in (1, (1, 1)) else f"{kind}-pool to {module.output_size}"
    if isinstance(module, nn.Flatten):
        return "flatten"
    return type(module).__name__.lower()


def architecture(model: nn.Module) -> str:
    """The model stage by stage, each stage's layers in order, with parameter counts.

    >>> from collections import OrderedDict
    >>> model = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()),
    ...                                   head=nn.Linear(8, 2)))
    >>> print(architecture(model))
    stage     parameters  layers
    features         224  conv 3 -> 8 channels, 3x3 · relu
    head              18  linear 8 -> 2
    """
    rows = []
    for name, stage in model.named_children():
        parts = [module for module in stage.modules() if not list(module.children())] or [stage]
        rows.append({"stage": name, "layers": " · ".join(layer(module) for module in parts),
                     "parameters": f"{sum(p.numel() for p in stage.parameters()):,}"})
    return table(rows, ["stage", "parameters", "layers"])


def linear_mismatch(linear: nn.Linear, features: torch.Tensor) -> str | None:
    """Why `linear` cannot take `features` (one row per image), or None when it can.

    This is what PyTorch's "shapes cannot be multiplied" error means, in words.

    >>> linear_mismatch(nn.Linear(6272, 100), torch.zeros(1, 128, 4, 4))
    'each image arrives as 128x4x4 = 2,048 numbers, but the linear layer expects 6,272 inputs'
    """
    per_image = features[0].numel()
    if per_image == linear.in_features:
        return None
    shape = "x".join(map(str, features.shape[1:]))
    arrives = f"{shape} = {per_image:,}" if features.dim() > 2 else f"{per_image:,}"
    return f"each image arrives as {arrives} numbers, but the linear layer expects {linear.in_features:,} inputs"


def state_mismatches(state: dict, model: nn.Module) -> list[str]:
    """The tensors of a saved `state` whose shape differs from `model`'s tensor of the same name.

    >>> state_mismatches(nn.Linear(128, 10).state_dict(), nn.Linear(128, 100))
    ['weight: 10x128 saved, 100x128 in the model', 'bias: 10 saved, 100 in the model']
    """
    wanted = model.state_dict()
    return [f"{name}: {'x'.join(map(str, tensor.shape))} saved, {'x'.join(map(str, wanted[name].shape))} in the model"
            for name, tensor in state.items() if name in wanted and wanted[name].shape != tensor.shape]


def code(function) -> str:
    """A function's source without its docstring: the lines a chapter wants to show.

    The docstring is the function's documentation (`help(function)` shows it); in a chapter the code
    itself is the lesson, so the printout keeps the signature and the body.

    >>> def double(x):
    ...     "Twice x: the docstring a chapter leaves out."
    ...     return 2 * x
    >>> print(code(double))
    def double(x):
        return 2 * x
    """
    source = textwrap.dedent(inspect.getsource(function))
    lines = source.splitlines()
    definition = ast.parse(source).body[0]
    first = definition.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str) and len(definition.body) > 1:
        lines = lines[:first.lineno - 1] + lines[first.end_lineno:]
    return "\n".join(lines)
