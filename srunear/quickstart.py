"""Quick start: train SRU-NER briefly on the bundled sample corpus and tag a text.

    python -m srunear.quickstart [--output-dir srunear-quickstart] [--epochs 12]

Builds a model on the offline all-MiniLM-L6-v2 encoder, trains it on sources that
annotate different entity types (label masks at work), saves it with its pipeline,
reloads it through ``pipeline("srunear-ner")`` and prints the entities it finds.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer, get_linear_schedule_with_warmup, pipeline

import modeling_srunear  # noqa: F401  (registers the model and the "srunear-ner" task)
from modeling_srunear import SRUNERDataCollator, SRUNERModel, save_pipeline
from srunear.experiment import minilm_path
from srunear.optimization import parameter_groups
from srunear.sample_corpus import SAMPLE_SOURCES, SAMPLE_TEXT, SAMPLE_TYPES, sample_examples


def train_on_sample(model: SRUNERModel, tokenizer, epochs: int, batch_size: int = 8, seed: int = 0) -> list[float]:
    """A plain loop with the paper's two learning rates; returns the mean loss per epoch."""
    torch.manual_seed(seed)
    examples = sample_examples(seed=seed)
    loader = DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=SRUNERDataCollator(tokenizer, model.config))
    optimizer = torch.optim.AdamW(parameter_groups(model, encoder_lr=1e-4, decoder_lr=2e-3, weight_decay=0.001))
    total = epochs * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=len(loader), num_training_steps=total)
    model.train()
    losses = []
    with tqdm(total=total, desc="training on the sample corpus", unit="batch") as bar:
        for _ in range(epochs):
            epoch_loss = 0.0
            for batch in loader:
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                epoch_loss += loss.item()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
            losses.append(epoch_loss / len(loader))
    model.eval()
    return losses


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="srunear-quickstart", help="where the trained model is saved")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text", default=SAMPLE_TEXT, help="text to tag after training")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    model = SRUNERModel.from_encoder(minilm_path(), SAMPLE_TYPES, SAMPLE_SOURCES, positional_dropout=0.1, latent_dropout=0.1)
    losses = train_on_sample(model, tokenizer, args.epochs, seed=args.seed)
    save_pipeline(model, tokenizer, args.output_dir)

    ner = pipeline("srunear-ner", model=args.output_dir)
    entities = ner(args.text)
    print(f"\nloss per epoch: {', '.join(f'{x:.4f}' for x in losses)}")
    print(f"saved to {args.output_dir}/ (load with pipeline('srunear-ner', model=..., trust_remote_code=True))")
    print(f"\n{args.text}\n")
    print(f"{'type':<10} {'score':>5}  {'start':>5} {'end':>5}  text")
    for entity in entities:
        print(f"{entity['entity_group']:<10} {entity['score']:5.2f}  {entity['start']:5d} {entity['end']:5d}  {entity['word']}")
    if not entities:
        print("(no entities found)")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return entities


if __name__ == "__main__":
    main()
