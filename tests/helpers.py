"""Plain helpers shared by the test modules (fixtures live in conftest.py): tiny models, corpora, scripts."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# Report kinds that lose annotations (not counting tag-map drops).
LOSSY_KINDS = ("unaligned", "mismatch", "crossing", "cut_mention")
WORDS = "the a of cells protein binds in patients with cancer aspirin BRCA1 mice tumour".split()


def tiny_config(**overrides):
    """A randomly initialised 1-layer BERT encoder with the MiniLM vocabulary: fast, real tokenizer."""
    from transformers import BertConfig

    from modeling_srunear import SRUNERConfig

    encoder = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    values = dict(
        encoder_config=encoder,
        entity_types=["Gene", "Disease", "Chemical"],
        sources={"genes": ["Gene"], "diseases": ["Disease", "Chemical"], "all": ["Gene", "Disease", "Chemical"]},
        half_context=8,
    )
    values.update(overrides)
    return SRUNERConfig(**values)


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
    # per-source heads and the paper's decoding rule: the pipeline tests pin how heads merge and decoding ends
    model = SRUNERModel(tiny_config(max_subword_tokens=24, parser_state="slot", heads="per_source", decoding="paper"))
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


def save_tiny_encoder(folder: Path) -> Path:
    """A random 1-layer, 32-wide BERT with the MiniLM tokenizer: trains in milliseconds per step."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from srunear.experiment import minilm_path

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def iob_sentence(rng: random.Random, tag: str) -> str:
    tokens = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
    tags = ["O"] * len(tokens)
    start = rng.randrange(len(tokens))
    tags[start] = f"B-{tag}"
    if start + 1 < len(tokens):
        tags[start + 1] = f"I-{tag}"
    return "\n".join(f"{token}\t{t}" for token, t in zip(tokens, tags))


def write_corpora(folder: Path, sizes=(("train", 40), ("dev", 10), ("test", 10))) -> None:
    """Two IOB corpora: `genes` annotates GENE (mapped to Gene), `diseases` annotates Disease."""
    rng = random.Random(0)
    for name, tag in (("genes", "GENE"), ("diseases", "Disease")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for split, n in sizes:
            text = "\n\n".join(iob_sentence(rng, tag) for _ in range(n))
            (folder / name / f"{split}.tsv").write_text(text + "\n", encoding="utf-8")


def write_experiment(folder: Path, encoder: Path, **training) -> Path:
    """Corpora + experiment file in `folder`; paths are relative to the file, as users write them."""
    write_corpora(folder)
    splits = lambda name: {split: f"{name}/{split}.tsv" for split in ("train", "dev", "test")}  # noqa: E731
    experiment = {
        "encoder": str(encoder),
        "model": {"half_context": 8},
        "training": {"epochs": 2, "batch_size": 4, "seed": 3, **training},
        "sources": [
            {"name": "genes", "format": "iob", "paths": splits("genes"), "tag_map": {"GENE": "Gene"}},
            {"name": "diseases", "format": "iob", "paths": splits("diseases")},
        ],
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    return path


def run_script(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a command from the repository root, failing with its output when it fails."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    result = subprocess.run(args, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def lost(report) -> int:
    """Annotations a reader dropped because they could not be represented (not counting tag-map drops)."""
    return sum(report.counts[kind] for kind in LOSSY_KINDS)
