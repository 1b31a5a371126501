"""Shared fixtures: the real corpora, a tokenizer, tiny models and pipelines (plain helpers: helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_DATA, save_nudged_tiny_model, tiny_config


@pytest.fixture
def shared_data() -> Path:
    """The folder of real corpora beside the project; tests that need it skip, loudly, without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from srunear.experiment import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture
def tiny_model():
    import torch

    from modeling_srunear import SRUNERModel

    torch.manual_seed(0)
    return SRUNERModel(tiny_config())


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tokenizer):
    """A saved model folder whose every word is a Gene (see save_nudged_tiny_model), one per test module."""
    return save_nudged_tiny_model(tmp_path_factory.mktemp("model"), tokenizer)


@pytest.fixture(scope="module")
def ner(model_folder):
    from transformers import pipeline

    return pipeline("srunear-ner", model=str(model_folder), device="cpu")
