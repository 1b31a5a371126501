"""SRU-NER for Hugging Face: importing this package registers the model with the Auto classes."""

from transformers import AutoConfig, AutoModel

from .configuration_srunear import PAPER_SETTINGS, SRUNERConfig
from .modeling_srunear import SRUNERDataCollator, SRUNERModel, SRUNEROutput, action_loss, merge_head_spans, source_label_mask
from .transition_system import (
    EOA,
    SHIFT,
    ActionVocabulary,
    UnrepresentableSpansError,
    decode_actions,
    encode_spans,
    find_crossing_spans,
)

AutoConfig.register("srunear", SRUNERConfig, exist_ok=True)
AutoModel.register(SRUNERConfig, SRUNERModel, exist_ok=True)
SRUNERConfig.register_for_auto_class()
SRUNERModel.register_for_auto_class("AutoModel")

__all__ = [
    "EOA",
    "PAPER_SETTINGS",
    "SHIFT",
    "ActionVocabulary",
    "SRUNERConfig",
    "SRUNERDataCollator",
    "SRUNERModel",
    "SRUNEROutput",
    "UnrepresentableSpansError",
    "action_loss",
    "decode_actions",
    "encode_spans",
    "find_crossing_spans",
    "merge_head_spans",
    "source_label_mask",
]

from .pipeline_srunear import SRUNERPipeline, register_pipeline, save_pipeline  # noqa: E402

register_pipeline()
__all__ += ["SRUNERPipeline", "register_pipeline", "save_pipeline"]
