"""FLOP counting with ``torch.utils.flop_counter``, plus the attention ops it misses.

FLOPs here are 2 x multiply-adds (PAPER.md: the paper's convention is unknown). On CPU,
``F.scaled_dot_product_attention`` dispatches to ``aten._scaled_dot_product_flash_attention_for_cpu``,
which torch's counter has no formula for (it counts 0): attention, exactly the cost JAR cuts,
would vanish from the count. We register the standard SDPA formula for it and its backward.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils import flop_counter as fc

aten = torch.ops.aten

# The modules whose FLOPs the profiler reports apart (attribute names of JARVLModel).
PARTS = {
    "image": ("image_encoder",),
    "text": ("text_encoder",),
    "fusion": ("fusion", "image_proj", "text_proj"),
    "decoder": ("decoder",),
}


def attention_flops(batch: int, heads: int, q_len: int, kv_len: int, head_dim: int) -> int:
    """Forward FLOPs of softmax(QK^T)V: 2 matmuls of 2*q*k*d each (softmax and scaling not counted)."""
    return 2 * 2 * batch * heads * q_len * kv_len * head_dim


def _cpu_sdpa(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return fc.sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return fc.sdpa_backward_flop_count(grad_out, query, key, value)


# Ops missing from torch's registry, by the torch versions we support; looked up lazily so an
# op a given build lacks is simply skipped.
_MISSING: dict[str, Callable[..., int]] = {
    "_scaled_dot_product_flash_attention_for_cpu": _cpu_sdpa,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _cpu_sdpa_backward,
}


def custom_mapping() -> dict:
    """The extra formulas to hand ``FlopCounterMode(custom_mapping=...)``."""
    mapping = {}
    for name, formula in _MISSING.items():
        packet = getattr(aten, name, None)
        if packet is not None and packet not in fc.flop_registry:
            mapping[packet] = formula
    return mapping


def flop_counter() -> fc.FlopCounterMode:
    """A ``FlopCounterMode`` that also counts CPU attention."""
    return fc.FlopCounterMode(display=False, depth=None, custom_mapping=custom_mapping())


def count_flops(model: torch.nn.Module, run: Callable[[], object]) -> dict[str, int]:
    """FLOPs of ``run()`` (which calls ``model``): ``total`` and one entry per part of ``PARTS``.

    Parts are attributed by module path, so ``model`` must be the JARVLModel being run.
    """
    counter = flop_counter()
    with counter:
        run()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    result = {"total": counter.get_total_flops()}
    for part, attrs in PARTS.items():
        result[part] = sum(sum(counts.get(f"{root}.{a}", {}).values()) for a in attrs)
    return result
