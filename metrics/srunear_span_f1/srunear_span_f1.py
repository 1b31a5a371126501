"""`evaluate` metric wrapping ``srunear.metrics``: strict span P/R/F1 for nested NER.

Why a wrapper at all: it lets the Trainer / ``evaluate`` ecosystem load the project's
metric with ``evaluate.load("metrics/srunear_span_f1")`` while the arithmetic lives in one
tested place, ``srunear.metrics``. ``evaluate`` copies this file into its module cache
before importing it, so ``srunear`` is imported as the installed package (``pip install -e .``),
not from a path next to this file.
"""

import datasets
import evaluate

from srunear import metrics as span_metrics

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


def _as_records(sentences):
    """Turn tuple spans into the dict records the Arrow features expect."""
    if sentences is None:
        return None
    records = []
    for sentence in sentences:
        spans = (span_metrics.as_span(span) for span in sentence)
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
        return span_metrics.source_report(
            gold=references, predicted=predictions, types=types, unrepresentable_gold=unrepresentable_gold
        )
