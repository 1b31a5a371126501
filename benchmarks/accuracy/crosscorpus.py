"""Cross-corpus scoring on BioRED: a trained model tags raw abstracts through the pipeline, scored at character offsets.

    python benchmarks/accuracy/crosscorpus.py MODEL_DIR [--split test] [--data-dir ../shared/data]

BioRED annotates genes, diseases, chemicals and species (and variants and cell lines, not
scored) in whole PubMed abstracts; the corpora our models train on each annotate some of these
types under other names. `BIORED_TYPES` maps the four scored types to the names the training
corpora are mapped to. A model is scored on those of the four types it predicts
(`config.entity_types`): the text goes through `pipeline("srunear-ner")` exactly as a user's
would (its own sentence and word splitting), and a predicted entity counts when its character
offsets and type equal a gold mention's. A gold mention whose boundary falls inside one of the
pipeline's words cannot be found; it counts as missed, as it would for the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from srunear.metrics import Span, span_prf  # noqa: E402
from tokenization.pubtator import parse_pubtator  # noqa: E402

__all__ = ["BIORED_TYPES", "Document", "biored_documents", "scored_types", "score_documents", "tag_documents"]

BIORED_TYPES = {
    "GeneOrGeneProduct": "Gene_or_protein",
    "DiseaseOrPhenotypicFeature": "Disease",
    "ChemicalEntity": "Chemical",
    "OrganismTaxon": "Species",
}


@dataclass
class Document:
    """One abstract: its text (title, space, abstract: the text PubTator offsets refer to) and gold mentions."""

    pmid: str
    text: str
    gold: set[Span]


def biored_documents(path: str | Path) -> list[Document]:
    """BioRED's documents with the four scored types, renamed (`BIORED_TYPES`); other types are left out."""
    documents = []
    for document in parse_pubtator(path):
        gold = {(e.start, e.end, BIORED_TYPES[e.type]) for _, e, _ in document.annotations if e.type in BIORED_TYPES}
        documents.append(Document(document.pmid, document.text, gold))
    return documents


def scored_types(entity_types: Sequence[str]) -> list[str]:
    """The scored BioRED types a model with these entity types can predict."""
    return sorted(set(BIORED_TYPES.values()) & set(entity_types))


def tag_documents(ner: Callable[..., Any], documents: Sequence[Document], batch_size: int = 8) -> list[set[Span]]:
    """Each document's predicted (start, end, type) at character offsets, from an ``srunear-ner`` pipeline."""
    outputs = ner([d.text for d in documents], batch_size=batch_size)
    return [{(e["start"], e["end"], e["entity_group"]) for e in entities} for entities in outputs]


def score_documents(documents: Sequence[Document], predicted: Sequence[set[Span]], types: Sequence[str]) -> dict[str, Any]:
    """Micro and per-type P/R/F1 (0-100) over ``types`` only; predictions of other types are ignored."""
    if len(predicted) != len(documents):
        raise ValueError(f"{len(predicted)} predictions for {len(documents)} documents")
    scores = span_prf([d.gold for d in documents], list(predicted), list(types))
    micro = scores.micro_score()
    return {"f1": micro.f1, "precision": micro.precision, "recall": micro.recall, "support": micro.support,
            "per_type": {t: scores.score(t).as_type_row() for t in types}}


def score_model(folder: str | Path, path: str | Path, batch_size: int = 8, limit: int | None = None) -> dict[str, Any]:
    """Load the model saved in ``folder`` as a pipeline, tag the BioRED file at ``path`` (its first ``limit``
    documents) and score it."""
    import time

    import torch
    from transformers import AutoTokenizer, pipeline

    import modeling_srunear  # noqa: F401  (registers the "srunear-ner" task)
    from srunear.loading import load_model

    model = load_model(folder)
    ner = pipeline("srunear-ner", model=model, tokenizer=AutoTokenizer.from_pretrained(str(folder)),
                   device="cuda" if torch.cuda.is_available() else "cpu")  # as run.py's predictions
    documents = biored_documents(path)[:limit]
    started = time.perf_counter()
    predicted = tag_documents(ner, documents, batch_size)
    block = score_documents(documents, predicted, scored_types(model.config.entity_types))
    block.update(documents=len(documents), tag_s=time.perf_counter() - started)
    return block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--data-dir", default=str(REPO_ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    path = Path(args.data_dir) / "biored" / f"{args.split}.pubtator"
    if not path.is_file():
        parser.error(f"no BioRED file at {path} (use --data-dir)")
    print(json.dumps(score_model(args.model, path), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
