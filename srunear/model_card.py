"""Write a Hub model card (README.md) for a saved SRU-NER model from the ``model_card.md`` template.

The template lives once, at the repository root (``model_card.md``); its ``{{name}}`` markers are
filled in one pass, so text inserted for one marker (a source called ``{{license}}``, say) is never
itself substituted. Every marker must be known and every one is filled: a card never ships with a
placeholder left in it.

    from srunear.model_card import write_model_card
    write_model_card("outputs/best", model.config, metrics_report=report, training_summary={"epochs": 20})
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srunear.files import atomic_write
from srunear.markdown import markdown_table_lines

__all__ = ["TEMPLATE_PATH", "PLACEHOLDER", "fill_template", "render_model_card", "write_model_card"]

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "model_card.md"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
NO_METRICS = "No evaluation results were recorded for this model."
NO_TRAINING = "No training summary was recorded for this model."


def _table(header: list[str], rows: list[list[Any]]) -> str:
    return "\n".join(markdown_table_lines(header, rows))


def sources_table(config) -> str:
    """Markdown table: each training source and the entity types it annotates."""
    rows = [[f"`{name}`", ", ".join(types) if types else "(none)"] for name, types in config.sources.items()]
    return _table(["Source", "Entity types annotated"], rows)


def _training_section(summary: Mapping[str, Any] | str | None) -> str:
    if summary is None:
        return NO_TRAINING
    if isinstance(summary, str):
        return summary.strip() or NO_TRAINING
    rows = [
        [key, value if isinstance(value, (str, int, float, bool)) else json.dumps(value, ensure_ascii=False)]
        for key, value in summary.items()
    ]
    return _table(["Setting", "Value"], rows) if rows else NO_TRAINING


def _metrics_section(report: Mapping[str, Any] | None, split: str | None = None) -> str:
    if report is None:
        return NO_METRICS
    from srunear.metrics import markdown_table

    table = markdown_table(report).rstrip("\n")
    return f"Measured on the **{split}** split of each source.\n\n{table}" if split else table


def _encoder_description(config) -> str:
    """E.g. "`bert-base-cased` (bert, 12 layers, hidden size 768)"."""
    encoder = config.encoder_config.to_dict()
    details = [str(encoder.get("model_type", "transformer"))]
    if "num_hidden_layers" in encoder:
        layers = encoder["num_hidden_layers"]
        details.append(f"{layers} layer{'' if layers == 1 else 's'}")
    if "hidden_size" in encoder:
        details.append(f"hidden size {encoder['hidden_size']}")
    name = f"`{config.encoder_name_or_path}`" if config.encoder_name_or_path else "an encoder of unrecorded origin"
    return f"{name} ({', '.join(details)})"


def _hub_id(value: str | None) -> str | None:
    """``value`` when it looks like a Hub repository id (``org/name``) rather than a local path."""
    if not value or value.startswith((".", "/", "~")) or "\\" in value or Path(value).exists():
        return None
    return value if re.fullmatch(r"[\w.-]+/[\w.-]+", value) else None


def _yaml_scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def fill_template(template: str, values: Mapping[str, str], where: str = "template") -> str:
    """Replace every ``{{name}}`` marker in one pass; unknown markers and unused values raise."""
    found = set(PLACEHOLDER.findall(template))
    unknown, unused = sorted(found - set(values)), sorted(set(values) - found)
    if unknown or unused:
        raise ValueError(f"{where}: markers without values {unknown}, values without markers {unused}")
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


TRAINING_SUMMARY = "training_summary.json"  # beside the model, so evaluate.py can rewrite the card


def render_model_card(
    config,
    metrics_report: Mapping[str, Any] | None = None,
    training_summary: Mapping[str, Any] | str | None = None,
    *,
    model_name: str = "SRU-NER",
    model_id: str = "path/or/hub-id",
    license: str = "apache-2.0",
    template: str | Path | None = None,
    metrics_split: str | None = None,
) -> str:
    """The model card text for a model with this ``SRUNERConfig``."""
    path = Path(template) if template is not None else TEMPLATE_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"model card template not found at {path}: it ships at the root of the srunear repository "
            "(model_card.md); install the project in editable mode (pip install -e .) or pass template=PATH"
        )
    base_model = _hub_id(config.encoder_name_or_path)
    types = ", ".join(config.entity_types) or "(none)"
    values = {
        "license": license,
        "base_model_yaml": f"base_model: {_yaml_scalar(base_model)}\n" if base_model else "",
        "model_name": model_name.replace("\n", " "),
        "model_id": model_id,
        "encoder": _encoder_description(config),
        "entity_types": types,
        "sources_table": sources_table(config),
        "projection_coefficient": f"{config.projection_coefficient:g}",
        "training": _training_section(training_summary),
        "metrics": _metrics_section(metrics_report, metrics_split),
        "max_subword_tokens": str(config.max_subword_tokens),
    }
    return fill_template(path.read_text(encoding="utf-8"), values, where=str(path))


def write_model_card(
    folder: str | Path,
    config,
    metrics_report: Mapping[str, Any] | None = None,
    training_summary: Mapping[str, Any] | str | None = None,
    **options: Any,
) -> Path:
    """Write ``folder/README.md`` (atomically: a temporary file renamed over it) and return its path.

    ``metrics_report`` is an ``srunear.metrics.evaluate_sources`` report; ``training_summary`` a
    mapping (rendered as a table) or markdown text. ``options``: ``model_name`` (default: the
    folder's name), ``model_id`` (for the loading examples; default: the folder's name),
    ``license`` and ``template`` (see ``render_model_card``).
    """
    folder = Path(folder)
    options.setdefault("model_name", folder.resolve().name)
    options.setdefault("model_id", folder.resolve().name)
    text = render_model_card(config, metrics_report, training_summary, **options)
    target = folder / "README.md"
    atomic_write(target, text)
    return target
