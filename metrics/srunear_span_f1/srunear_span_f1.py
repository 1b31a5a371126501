"""`evaluate` metric wrapping ``srunear.metrics``: strict span P/R/F1 for nested NER.

Why a wrapper at all: it lets the Trainer / ``evaluate`` ecosystem load the project's
metric with ``evaluate.load("metrics/srunear_span_f1")`` while the arithmetic lives in one
tested place, ``srunear.metrics``. ``evaluate`` copies this file into its module cache
before importing it, so ``srunear`` is located lazily (see ``_srunear_metrics``).
"""

import importlib
import json
import sys
from pathlib import Path

import datasets
import evaluate

_DESCRIPTION = """\
Strict span-level precision, recall and F1 (percent) for nested named entity recognition.
A span is (start, end_exclusive, type) over word indices; predictions match gold only when
start, end and type all agree within the same sentence. Duplicate spans count once.
`types` restricts scoring to the types a corpus annotates; `unrepresentable_gold` adds gold
spans lost to tokenisation as false negatives.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of spans per sentence; a span is a (start, end, type) tuple/list
        or a {"start", "end", "type"} dict, end exclusive.
    references: gold spans, aligned sentence by sentence with `predictions`.
    types: optional collection of entity types to score; spans of other types are ignored.
    unrepresentable_gold: int, or dict type -> int, of gold spans the tokenisation could not
        represent; counted as misses (an int charges only the micro scores).
Returns:
    {"types": {type: {"precision", "recall", "f1", "support"}},
     "micro": {"precision", "recall", "f1"}}, values in percent.
Examples:
    >>> metric = evaluate.load("metrics/srunear_span_f1")
    >>> metric.compute(predictions=[[(0, 2, "PER")]], references=[[(0, 2, "PER")]])["micro"]["f1"]
    100.0
"""

_CITATION = """\
@misc{srunear,
  title = {srunear: transition-based nested NER from partially annotated corpora},
}
"""

_SPAN = {"start": datasets.Value("int32"), "end": datasets.Value("int32"), "type": datasets.Value("string")}
_FEATURES = datasets.Features(
    {"predictions": datasets.List(_SPAN), "references": datasets.List(_SPAN)}
)


def _candidate_repo_roots():
    """Where srunear may live: above the original script (recorded by evaluate) or above this file."""
    here = Path(__file__).resolve()
    origins = []
    meta = here.with_suffix(".json")
    if meta.is_file():
        original = json.loads(meta.read_text(encoding="utf-8")).get("original file path")
        if original:
            origins.append(Path(original).resolve())
    origins.append(here)
    return [origin.parents[2] for origin in origins if len(origin.parents) > 2]


def _srunear_metrics():
    """Import srunear.metrics, falling back to the repository this script was loaded from."""
    try:
        return importlib.import_module("srunear.metrics")
    except ImportError:
        for root in _candidate_repo_roots():
            if (root / "srunear" / "metrics.py").is_file():
                sys.path.append(str(root))
                return importlib.import_module("srunear.metrics")
        raise


def _as_records(sentences):
    """Turn tuple spans into the dict records the Arrow features expect."""
    if sentences is None:
        return None
    metrics = _srunear_metrics()
    records = []
    for sentence in sentences:
        spans = (metrics.as_span(span) for span in sentence)
        records.append([{"start": start, "end": end, "type": kind} for start, end, kind in spans])
    return records


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SrunearSpanF1(evaluate.Metric):
    """Thin `evaluate.Metric` over ``srunear.metrics.source_report``."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_FEATURES,
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add sentences of spans (tuples or dicts) for later scoring.\n"""
        return super().add_batch(predictions=_as_records(predictions), references=_as_records(references), **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one sentence of spans (tuples or dicts) for later scoring.\n"""
        prediction = None if prediction is None else _as_records([prediction])[0]
        reference = None if reference is None else _as_records([reference])[0]
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(self, predictions, references, types=None, unrepresentable_gold=0):
        return _srunear_metrics().source_report(
            gold=references, predicted=predictions, types=types, unrepresentable_gold=unrepresentable_gold
        )
