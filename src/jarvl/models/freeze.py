"""Freezing a tower (``freeze: true | false | last_N``), the same way for built-in and pretrained towers."""

from __future__ import annotations

from torch import nn

from jarvl.blocks.config import freeze_layers


def apply_freeze(tower: nn.Module, freeze: bool | str) -> None:
    """Set ``requires_grad`` on ``tower``'s parameters as ``freeze`` says.

    ``false``: all trainable. ``true``: none. ``last_N``: only the last N blocks and the modules
    after them (the final norm) train; embeddings, patch stem and earlier blocks are frozen (the
    usual partial fine-tuning). ``tower.freeze_parts()`` names the blocks and those modules.
    """
    trainable = freeze_layers(freeze)
    if trainable is None:
        return
    tower.requires_grad_(False)
    if trainable:
        blocks, after = tower.freeze_parts()
        for module in blocks[-trainable:] + after:
            module.requires_grad_(True)


def fully_frozen(freeze: bool | str) -> bool:
    """Whether ``freeze`` freezes the whole tower (it then stays in eval mode: no dropout)."""
    return freeze_layers(freeze) == 0
