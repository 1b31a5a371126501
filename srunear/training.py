"""Train SRU-NER on several partially annotated corpora at once, with Accelerate.

    python train.py CONFIG.yaml [--output-dir DIR] [--max-steps N] [--resume] [--push-to-hub ORG/NAME] [key=value ...]
    accelerate launch --num_processes 2 --cpu train.py CONFIG.yaml ...

Every epoch samples a fresh mixture of the sources (`datasets.interleave_datasets` with the
configured probabilities, seeded by seed + epoch; by default, as in the paper, each source with
probability 1/K and the mean source size per epoch), trains on it, scores every source on its dev
split (on the main process) and appends the scores to OUTPUT/metrics.jsonl. The best model by
average dev F1 goes to OUTPUT/best, the training state to OUTPUT/state; both are written to a
temporary folder first and renamed into place, so a crash never leaves half a checkpoint.
Because an epoch's data depends only on (seed, epoch) and the RNG states are checkpointed,
`--resume` continues from the last finished epoch and ends with the same results as a run that
was never interrupted. The checkpoint records the run's settings, and `--resume` refuses to go on
under other ones (more epochs, another seed...), naming what changed: the result would be a mix
of two runs.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from modeling_srunear import SRUNERDataCollator, SRUNERModel, save_pipeline
from srunear.cli import command_line
from srunear.evaluation import evaluate_model
from srunear.optimization import parameter_groups
from srunear.splits import SplitData, fit_splits, load_split, mapped_types
from srunear.experiment import ExperimentConfig, TrainingConfig, changed_settings, load_experiment
from srunear.metrics import markdown_table
from srunear.model_card import TRAINING_SUMMARY, write_model_card

__all__ = ["SourceMixture", "TrainerState", "epoch_examples", "main", "sampling_probabilities", "train"]

STATE_FILE = "trainer_state.json"


# --------------------------------------------------------------------------- data


def sampling_probabilities(sampling: str | dict[str, float], sizes: dict[str, int]) -> list[float]:
    """Per-source sampling probabilities (in `sizes` order); `uniform` (the paper) gives each 1/K,
    `inverse_size` favours small corpora, `proportional` large ones."""
    if isinstance(sampling, dict):
        weights = [float(sampling[name]) for name in sizes]
    elif sampling == "inverse_size":
        weights = [1.0 / size for size in sizes.values()]
    elif sampling == "proportional":
        weights = [float(size) for size in sizes.values()]
    else:
        weights = [1.0] * len(sizes)
    total = sum(weights)
    return [weight / total for weight in weights]


class SourceMixture(Dataset):
    """A fixed number of examples per epoch, drawn from the sources with the given probabilities.

    The epoch's draw depends only on (seed, epoch), so every process builds the same one and a
    resumed run sees the same data as an uninterrupted one. Within a source, examples come
    without replacement (a shuffled pass, then another); the paper's sampler draws with
    replacement, which gives the same source mixture but may repeat an example within an epoch.
    """

    def __init__(self, sources: dict[str, datasets.Dataset], probabilities: list[float], size: int, seed: int):
        self.sources = sources
        self.probabilities = probabilities
        self.size = size
        self.seed = seed
        self.epoch_data: datasets.Dataset | None = None
        self.draw(0)

    def draw(self, epoch: int) -> None:
        """The epoch's examples. Not named `set_epoch`: Accelerate would call that with its own count."""
        parts, drawn, round_ = [], 0, 0
        while drawn < self.size:  # a longer epoch than one pass over the mixture: draw again
            seed = self.seed + epoch + 100_003 * round_
            shuffled = [data.shuffle(seed=seed) for data in self.sources.values()]
            mixed = datasets.interleave_datasets(
                shuffled, probabilities=self.probabilities, seed=seed, stopping_strategy="all_exhausted"
            )
            parts.append(mixed.select(range(min(len(mixed), self.size - drawn))))
            drawn += len(parts[-1])
            round_ += 1
        self.epoch_data = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.epoch_data[index]


def epoch_examples(config: TrainingConfig, sizes: dict[str, int]) -> int:
    """Examples drawn per epoch: `steps_per_epoch` batches if set, else the mean (the paper's) or
    the total of the source sizes."""
    if config.steps_per_epoch:
        return config.steps_per_epoch * config.batch_size
    total = sum(sizes.values())
    return max(1, round(total / len(sizes))) if config.epoch_size == "mean" else total


# --------------------------------------------------------------------------- optimisation


def build_optimizer(model: SRUNERModel, config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW over `parameter_groups`, with the configured (by default the paper's) betas and epsilon."""
    groups = parameter_groups(model, config.encoder_learning_rate, config.decoder_learning_rate, config.weight_decay)
    return torch.optim.AdamW(groups, betas=config.adam_betas, eps=config.adam_epsilon)


def warmup_then_decay(warmup_steps: float, total_steps: int):
    """Linear warmup to the full rate over `warmup_steps`, then linear decay to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(warmup_steps, 1.0)
        return max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1.0))

    return factor


# --------------------------------------------------------------------------- checkpoints


@dataclass
class TrainerState:
    """What `--resume` needs beyond `accelerator.save_state`: the epoch's draw is `seed + epoch`."""

    epoch: int = 0  # finished epochs, i.e. the next epoch to run
    global_step: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    best_report: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)  # `ExperimentConfig.settings()` of the run ({}: not recorded)


# Settings a resumed run may change: they do not alter what the finished epochs did or what the next ones do.
RESUMABLE_CHANGES = frozenset({"training.eval_batch_size", "training.patience"})


def check_resume_settings(recorded: dict[str, Any], wanted: dict[str, Any], output_dir: Path) -> None:
    """Refuse to continue a checkpoint under other settings: its schedule, data order and weights belong to the
    run that wrote it, and a mix of two runs would be neither. Checkpoints that recorded none pass."""
    if not recorded:
        return
    changed = [key for key in changed_settings(recorded, wanted) if key not in RESUMABLE_CHANGES]
    if changed:
        shown = "; ".join(f"{key}: {recorded.get(key)!r} in the checkpoint, {wanted.get(key)!r} now" for key in changed)
        raise ValueError(f"{output_dir / 'state'} was trained with other settings ({shown}); --resume continues a run "
                         "only under the settings it started with: set them back, or train into a new --output-dir")


def replace_folder(temporary: Path, final: Path) -> None:
    """Put a finished folder in place: the old one is moved aside first, then removed.

    A crash between the two renames leaves only ``final.old``; it is put back first, so the
    one complete copy is never the one deleted.
    """
    restore_folder(final)
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    temporary.rename(final)
    if old.exists():
        shutil.rmtree(old)


def restore_folder(final: Path) -> None:
    """Undo a crash between the two renames of ``replace_folder``: ``final.old`` becomes ``final`` again."""
    old = final.with_name(final.name + ".old")
    if old.is_dir() and not final.exists():
        old.rename(final)


def existing_folder(final: Path) -> Path | None:
    """The folder, or the previous one if a crash struck between the two renames."""
    old = final.with_name(final.name + ".old")
    return final if final.exists() else old if old.exists() else None


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainerState) -> None:
    """Model, optimiser, scheduler and RNG states (all processes), then the trainer state, atomically."""
    temporary = output_dir / "state.tmp"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (temporary / STATE_FILE).write_text(json.dumps(asdict(state)), encoding="utf-8")
        replace_folder(temporary, output_dir / "state")
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, output_dir: Path) -> TrainerState:
    folder = existing_folder(output_dir / "state")
    if folder is None or not (folder / STATE_FILE).is_file():
        accelerator.print(f"--resume: no finished epoch in {output_dir}; starting from scratch")
        return TrainerState()
    accelerator.load_state(str(folder))
    state = TrainerState(**json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
    accelerator.print(f"resumed from {folder} after epoch {state.epoch} (best average dev F1 {state.best_f1:.2f})")
    return state


def resolve_mixed_precision(setting: str) -> str:
    """``auto`` means bf16 where the GPU supports it and full precision elsewhere (CPU included)."""
    if setting != "auto":
        return setting
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def save_best(model: SRUNERModel, tokenizer, output_dir: Path, report: dict, state: "TrainerState") -> None:
    """Save model, tokenizer, pipeline code and model card beside OUTPUT/best, then swap it in."""
    temporary = output_dir / "best.tmp"
    if temporary.exists():
        shutil.rmtree(temporary)
    save_pipeline(model, tokenizer, temporary)
    summary = {"best epoch": state.best_epoch, "optimizer steps": state.global_step,
               "average dev F1": f"{state.best_f1:.2f}"}
    (temporary / TRAINING_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (temporary / "eval_dev.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")  # for the Hub card
    write_model_card(temporary, model.config, metrics_report=report, training_summary=summary,
                     model_name=output_dir.name, model_id=str(output_dir / "best"), metrics_split="dev")
    replace_folder(temporary, output_dir / "best")


def truncate_metrics(path: Path, epochs: int) -> None:
    """Forget metrics lines of epochs after the checkpoint, which a resumed run will redo."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["epoch"] <= epochs]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


# --------------------------------------------------------------------------- training


def build_model(experiment: ExperimentConfig, train_splits: dict[str, SplitData], dev_splits: dict[str, SplitData]) -> SRUNERModel:
    """Entity types = union of the sources' mapped types; each source annotates its own.

    With `training.label_masks: false` every source is configured as annotating all the types.
    """
    sources = {}
    for name in experiment.source_names:
        found = {split: data[name] for split, data in (("train", train_splits), ("dev", dev_splits)) if name in data}
        sources[name] = sorted(mapped_types(found))
    entity_types = []
    for types in sources.values():
        entity_types.extend(t for t in types if t not in entity_types)
    if not experiment.training.label_masks:  # ablation: every source "annotates" every type, no masks
        sources = {name: list(entity_types) for name in sources}
    return SRUNERModel.from_encoder(experiment.encoder_path(), entity_types, sources, **experiment.model)


def train_epoch(accelerator, model, optimizer, scheduler, loader, config: TrainingConfig, state: TrainerState,
                epoch: int, max_steps: int | None) -> float:
    """One pass over the epoch's mixture; returns the mean training loss over all processes."""
    model.train()
    total, batches = torch.zeros(()), 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not accelerator.is_local_main_process)
    started = time.perf_counter()
    examples = 0
    for batch in bar:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        total += loss.detach().float().cpu()
        batches += 1
        examples += len(batch["num_words"]) * accelerator.num_processes
        bar.set_postfix(loss=f"{loss.item():.4f}", ex_per_s=f"{examples / (time.perf_counter() - started):.1f}")
        if accelerator.sync_gradients:
            state.global_step += 1
            if max_steps is not None and state.global_step >= max_steps:
                break
    mean = accelerator.reduce(torch.stack([total, torch.tensor(float(batches))]), reduction="sum")
    return float(mean[0] / mean[1]) if mean[1] else 0.0


def evaluate_dev(accelerator, model, tokenizer, dev_splits, config: TrainingConfig) -> dict[str, Any]:
    """Dev scores computed on the main process and shared with the others (they decide on stopping too)."""
    report = [None]
    if accelerator.is_main_process:
        report[0] = evaluate_model(accelerator.unwrap_model(model), tokenizer, dev_splits, batch_size=config.eval_batch_size)
    if accelerator.num_processes > 1:
        broadcast_object_list(report)
    return report[0]


def summary_table(state: TrainerState, wall_s: float) -> str:
    lines = ["| Source | Dev F1 (best epoch) |", "| --- | ---: |"]
    for name, block in state.best_report.get("sources", {}).items():
        lines.append(f"| {name} | {block['micro']['f1']:.2f} |")
    lines.append(f"| **average** | **{state.best_f1:.2f}** |")
    return "\n".join(lines) + f"\n\nbest epoch {state.best_epoch}, {state.epoch} epochs, wall time {wall_s:.1f}s\n"


def train(experiment: ExperimentConfig, output_dir: str | Path, max_steps: int | None = None, resume: bool = False) -> TrainerState:
    """Run (or resume) an experiment; returns the final trainer state."""
    started = time.perf_counter()
    config = experiment.training
    output_dir = Path(output_dir)
    accelerator = Accelerator(gradient_accumulation_steps=config.gradient_accumulation_steps,
                              mixed_precision=resolve_mixed_precision(config.mixed_precision))
    experiment.check_paths(("train", "dev"))
    set_seed(config.seed)
    train_splits = load_split(experiment, "train", config.max_train_examples, shuffle_seed=config.seed)
    dev_splits = load_split(experiment, "dev", config.max_eval_examples, spread=config.eval_subset == "spread")
    if not train_splits:
        raise ValueError(f"no source of the experiment has a 'train' split (sources: {experiment.source_names})")

    accelerator.print(f"{accelerator.num_processes} process(es) ({accelerator.distributed_type}), device {accelerator.device}")
    tokenizer = AutoTokenizer.from_pretrained(experiment.encoder_path())
    model = build_model(experiment, train_splits, dev_splits)
    accelerator.print(f"entity types {model.config.entity_types}; sources {model.config.sources}")
    limit = model.config.max_subword_tokens
    train_splits = fit_splits(experiment, train_splits, tokenizer, limit)  # split the long, merge the short
    dev_splits = fit_splits(experiment, dev_splits, tokenizer, limit)
    for data in [*train_splits.values(), *dev_splits.values()]:
        accelerator.print(data.report.summary())

    sizes = {name: len(data.dataset) for name, data in train_splits.items()}
    probabilities = sampling_probabilities(config.sampling, sizes)
    accelerator.print("sampling: " + ", ".join(f"{n}={p:.3f} ({sizes[n]} ex.)" for n, p in zip(sizes, probabilities)))
    epoch_size = epoch_examples(config, sizes)
    mixture = SourceMixture({n: d.dataset for n, d in train_splits.items()}, probabilities, epoch_size, config.seed)
    loader = DataLoader(mixture, batch_size=config.batch_size, shuffle=False,
                        collate_fn=SRUNERDataCollator(tokenizer, model.config))
    steps_per_epoch = math.ceil(len(loader) / config.gradient_accumulation_steps)
    total_steps = steps_per_epoch * config.epochs
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [
        warmup_then_decay(config.encoder_warmup_epochs * steps_per_epoch, total_steps),
        warmup_then_decay(config.decoder_warmup_epochs * steps_per_epoch, total_steps),
    ])
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    metrics_path = output_dir / "metrics.jsonl"
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        for folder in ("best", "state"):
            restore_folder(output_dir / folder)
    accelerator.wait_for_everyone()
    state = load_checkpoint(accelerator, output_dir) if resume else TrainerState()
    check_resume_settings(state.settings, experiment.settings(), output_dir)
    state.settings = experiment.settings()
    if accelerator.is_main_process:
        if resume:
            truncate_metrics(metrics_path, state.epoch)
        elif metrics_path.exists():
            metrics_path.unlink()
    run_started = time.perf_counter() - state.elapsed_s

    while state.epoch < config.epochs and state.epochs_without_improvement < config.patience:
        if max_steps is not None and state.global_step >= max_steps:
            break
        epoch_started = time.perf_counter()
        mixture.draw(state.epoch)
        train_loss = train_epoch(accelerator, model, optimizer, scheduler, loader, config, state, state.epoch, max_steps)
        report = evaluate_dev(accelerator, model, tokenizer, dev_splits, config)
        state.epoch += 1
        improved = report["average_f1"] > state.best_f1
        if improved:
            state.best_f1, state.best_epoch, state.best_report = report["average_f1"], state.epoch, report
            state.epochs_without_improvement = 0
        else:
            state.epochs_without_improvement += 1
        state.elapsed_s = time.perf_counter() - run_started
        if accelerator.is_main_process:
            record = {"epoch": state.epoch, "step": state.global_step, "train_loss": train_loss,
                      "average_f1": report["average_f1"], "sources": report["sources"], "best_f1": state.best_f1,
                      "best_epoch": state.best_epoch, "time": {"epoch_s": time.perf_counter() - epoch_started}}
            with metrics_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            accelerator.print(markdown_table(report))
            accelerator.print(f"epoch {state.epoch}: train loss {train_loss:.4f}, average dev F1 "
                              f"{report['average_f1']:.2f} (best {state.best_f1:.2f} at epoch {state.best_epoch})")
            if improved:
                save_best(accelerator.unwrap_model(model), tokenizer, output_dir, report, state)
        accelerator.wait_for_everyone()
        save_checkpoint(accelerator, output_dir, state)

    accelerator.print(summary_table(state, time.perf_counter() - started))
    accelerator.end_training()
    return state


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train SRU-NER on the corpora of an experiment file.")
    parser.add_argument("config", help="experiment YAML file")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. training.epochs=2")
    parser.add_argument("--output-dir", help="default: the file's output_dir, else outputs/<config name>")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (smoke tests); the schedule still follows `epochs`")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/state")
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="when training ends, upload OUTPUT/best to this Hub repository")
    parser.add_argument("--hub-private", action="store_true", help="with --push-to-hub: create the repository as private")
    return parser


@command_line(build_parser, intermixed=True)
def main(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.config, args.overrides)
    output_dir = args.output_dir or experiment.output_dir or str(Path("outputs") / Path(args.config).stem)
    train(experiment, output_dir, max_steps=args.max_steps, resume=args.resume)
    if args.push_to_hub:
        from srunear.push import push_after_training

        push_after_training(experiment, Path(output_dir), args.push_to_hub, private=args.hub_private)
    return 0
