"""Publish a saved SRU-NER model folder to the Hugging Face Hub.

    python -m srunear.push MODEL_DIR ORG/NAME [--private] [--dataset HUB_ID ...] [--experiment CONFIG.yaml]
    python train.py CONFIG.yaml --push-to-hub ORG/NAME [--hub-private]     # after training

The folder is checked (safetensors weights, config with the remote code and the registered
pipeline, tokenizer, code files), copied to a staging folder, and its model card rewritten for the
Hub: the loading examples name ORG/NAME, and the metadata (validated by `huggingface_hub`'s
`ModelCardData`) holds `library_name`, `pipeline_tag`, the tags, `base_model` (the encoder, when it
is a Hub id), `datasets` (the Hub datasets among the sources) and a `model-index` of per-source F1
from every `eval_SPLIT.json` in the folder (training writes `eval_dev.json`; `evaluate.py` writes
`eval_test.json`). The token is the usual one (`HF_TOKEN` or `huggingface-cli login`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PushError", "card_data", "check_model_folder", "eval_reports", "main", "push", "push_after_training",
           "stage"]

TAGS = ("srunear", "nested-ner", "biomedical", "token-classification", "named-entity-recognition", "custom_code")


class PushError(ValueError):
    """The folder cannot be published as it is; the message says what is missing."""


def check_model_folder(folder: Path) -> dict[str, Any]:
    """The folder's config, after checking that it holds what loading from the Hub needs."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise PushError(f"{folder}: no config.json; give a folder written by train.py (OUTPUT/best) or save_pipeline")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    missing = [name for name in ("model.safetensors", "tokenizer_config.json") if not (folder / name).is_file()]
    auto_map = config.get("auto_map") or {}
    pipelines = config.get("custom_pipelines") or {}
    code = {ref.split(".")[0] + ".py" for ref in auto_map.values() if isinstance(ref, str)}
    code |= {task["impl"].split(".")[0] + ".py" for task in pipelines.values() if "impl" in task}
    missing += sorted(name for name in code if not (folder / name).is_file())
    if not auto_map or "srunear-ner" not in pipelines:
        missing.append("config.json auto_map and custom_pipelines['srunear-ner'] (the remote code)")
    if missing:
        raise PushError(f"{folder}: missing {', '.join(missing)}; save the model with modeling_srunear.save_pipeline")
    return config


def eval_reports(folder: Path) -> dict[str, dict[str, Any]]:
    """Split -> `evaluate_sources` report, from the folder's `eval_SPLIT.json` files."""
    return {path.stem.removeprefix("eval_"): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("eval_*.json"))}


def card_data(config: Mapping[str, Any], reports: Mapping[str, Mapping[str, Any]], model_name: str,
              datasets: Mapping[str, str] | None = None, license: str = "apache-2.0", extra_tags: Sequence[str] = ()):
    """Hub metadata (`huggingface_hub.ModelCardData`, which validates the model-index) for a model config.

    `datasets` maps source names to Hub dataset ids where a source comes from the Hub.
    """
    from huggingface_hub import EvalResult, ModelCardData

    from srunear.model_card import _hub_id

    datasets = dict(datasets or {})
    results = [
        EvalResult(task_type="token-classification", task_name="Nested named entity recognition",
                   dataset_type=datasets.get(source, source), dataset_name=source, dataset_split=split,
                   metric_type="f1", metric_name=f"{split} F1 (strict spans, micro)",
                   metric_value=round(float(block["micro"]["f1"]), 2))
        for split, report in reports.items()
        for source, block in report.get("sources", {}).items()
    ]
    return ModelCardData(
        library_name="transformers", pipeline_tag="token-classification", license=license,
        base_model=_hub_id(config.get("encoder_name_or_path")), datasets=sorted(set(datasets.values())) or None,
        tags=[*TAGS, *extra_tags], model_name=model_name, eval_results=results or None,
    )


def _model_config(folder: Path):
    from modeling_srunear import SRUNERConfig

    return SRUNERConfig.from_pretrained(folder)


def stage(folder: str | Path, repo_id: str, target: str | Path, datasets: Mapping[str, str] | None = None) -> Path:
    """Copy the model folder to `target` with its card rewritten for `repo_id` (see the module docstring)."""
    from huggingface_hub import ModelCard

    from srunear.model_card import TRAINING_SUMMARY, render_model_card

    folder, target = Path(folder), Path(target)
    config = check_model_folder(folder)
    shutil.copytree(folder, target, dirs_exist_ok=True)
    reports = eval_reports(folder)
    shown = "test" if "test" in reports else next(iter(reports), None)
    summary_path = folder / TRAINING_SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else None
    name = repo_id.split("/")[-1]
    text = render_model_card(_model_config(folder), reports.get(shown), summary, model_name=name, model_id=repo_id,
                             metrics_split=shown)
    card = ModelCard(text)
    card.data = card_data(config, reports, name, datasets)
    card.save(target / "README.md")
    return target


def push(folder: str | Path, repo_id: str, *, private: bool = False, datasets: Mapping[str, str] | None = None,
         token: str | None = None, commit_message: str | None = None) -> Any:
    """Create `repo_id` if needed and upload the staged folder in one commit; returns the commit info."""
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PushError(f"repository id must be ORG/NAME, got {repo_id!r}")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="srunear-push-") as staging:
        staged = stage(folder, repo_id, Path(staging) / "model", datasets)
        api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
        return api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(staged),
                                 commit_message=commit_message or f"Upload SRU-NER model from {Path(folder).name}")


def hub_datasets(sources: Iterable[Any]) -> dict[str, str]:
    """Source name -> Hub dataset id, for the sources of an experiment that come from the Hub."""
    return {source.name: source.hub.path for source in sources if getattr(source, "hub", None) is not None}


def push_after_training(experiment, output_dir: Path, repo_id: str, private: bool = False) -> Any:
    """Score OUTPUT/best on the test splits (when sources have them), then push it. Main process only."""
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return None
    best = Path(output_dir) / "best"
    if experiment.sources_with_split("test"):
        import torch
        from transformers import AutoTokenizer

        from modeling_srunear import SRUNERModel
        from srunear.evaluation import evaluate_model
        from srunear.splits import load_split

        model = SRUNERModel.from_pretrained(best).eval()
        with torch.no_grad():
            report = evaluate_model(model, AutoTokenizer.from_pretrained(best), load_split(experiment, "test"))
        (best / "eval_test.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    info = push(best, repo_id, private=private, datasets=hub_datasets(experiment.sources),
                commit_message=f"Upload SRU-NER model trained by train.py ({Path(output_dir).name})")
    print(f"pushed {best} to https://huggingface.co/{repo_id}", file=sys.stderr)
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srunear.push", description="Publish a saved SRU-NER model to the Hub.")
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="saved model folder (e.g. OUTPUT/best)")
    parser.add_argument("repo_id", metavar="ORG/NAME", help="Hub repository (created if missing)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--dataset", action="append", default=[], metavar="SOURCE=HUB_ID",
                        help="a Hub dataset a source came from (repeatable); also read from --experiment")
    parser.add_argument("--experiment", help="the experiment YAML: its Hub sources fill `datasets`")
    parser.add_argument("--commit-message")
    args = parser.parse_args(argv)
    datasets: dict[str, str] = {}
    if args.experiment:
        from srunear.experiment import load_experiment

        datasets.update(hub_datasets(load_experiment(args.experiment).sources))
    for item in args.dataset:
        source, _, hub_id = item.rpartition("=")
        datasets[source or hub_id] = hub_id
    try:
        push(args.model_dir, args.repo_id, private=args.private, datasets=datasets, commit_message=args.commit_message)
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"pushed {args.model_dir} to https://huggingface.co/{args.repo_id}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
