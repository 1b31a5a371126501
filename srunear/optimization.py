"""The two learning rates of SRU-NER: a small one for the pretrained encoder, a large one for the rest."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["parameter_groups"]


def parameter_groups(model: nn.Module, encoder_lr: float, decoder_lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Encoder (``model.encoder``) at ``encoder_lr``; decoder and token multiplier at ``decoder_lr``.

    Weight decay on every parameter, biases and LayerNorms included, as the paper's
    configuration has it (`use_weight_decay_on_bias: True`). Frozen parameters are left out.
    """
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    encoder_ids = {id(p) for p in encoder}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in encoder_ids]
    return [
        {"params": encoder, "lr": encoder_lr, "weight_decay": weight_decay},
        {"params": rest, "lr": decoder_lr, "weight_decay": weight_decay},
    ]
