"""SRUNERModel: batching, label masks, loss, decoders, saving and loading, input errors."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from helpers import BLOCK_PROJECT_IMPORTS, tiny_config

from modeling_srunear import SHIFT, SRUNERDataCollator, SRUNERModel, source_label_mask
from modeling_srunear.transition_system import EOA, encode_spans

SENTENCES = [
    {"tokens": "Mutations in BRCA1 cause breast cancer .".split(), "spans": [(2, 3, "Gene"), (4, 6, "Disease")]},
    {"tokens": "Aspirin".split(), "spans": [(0, 1, "Chemical")]},
    {"tokens": "The p53 protein binds the p21 promoter in tumour cells after cisplatin treatment .".split(),
     "spans": [(1, 3, "Gene"), (5, 7, "Gene"), (5, 6, "Gene"), (11, 12, "Chemical")]},
]


def batch_for(model, tokenizer, examples):
    return SRUNERDataCollator(tokenizer, model.config)(examples)


def infer(model, tokenizer, examples):
    model.eval()
    inputs = batch_for(model, tokenizer, [{"tokens": e["tokens"]} for e in examples])
    with torch.no_grad():
        return model(**inputs)


def test_padding_does_not_change_a_sentence(tiny_model, tokenizer):
    alone = infer(tiny_model, tokenizer, SENTENCES[1:2])
    batched = infer(tiny_model, tokenizer, SENTENCES)
    steps = alone.step_mask[0].sum()
    assert batched.step_mask[1].sum() == steps
    torch.testing.assert_close(batched.action_probabilities[1, :steps], alone.action_probabilities[0, :steps], atol=1e-5, rtol=0)
    assert batched.spans[1] == alone.spans[0] or all(
        a[:3] == b[:3] and abs(a[3] - b[3]) < 1e-5 for a, b in zip(batched.spans[1], alone.spans[0])
    )
    assert torch.equal(batched.actions[1, :steps], alone.actions[0, :steps])


def test_single_source_loss_is_multilabel_soft_margin(tokenizer):
    torch.manual_seed(1)
    model = SRUNERModel(tiny_config(sources=None))
    model.train()
    out = model(**batch_for(model, tokenizer, [dict(e, source="default") for e in SENTENCES]))
    mask = out.step_mask
    labels = batch_for(model, tokenizer, SENTENCES)["labels"]
    assert mask.sum() == (labels[..., 0] != -100).sum()  # no postponement without masks
    expected = F.multilabel_soft_margin_loss(out.logits[mask], labels[labels[..., 0] != -100])
    torch.testing.assert_close(out.loss, expected)


def force_logits(model, **logits):
    """Make the MLP output constant logits, e.g. force_logits(m, SHIFT=0.0, TRANSITION_Disease=3.0)."""
    last = model.decoder.output_layer
    vocab = model.vocab
    bias = torch.full((len(vocab),), -4.0)
    for name, value in logits.items():
        bias[vocab.names().index(name.replace("_", "(") + ")" if "_" in name else name)] = value
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(bias)


def test_masked_actions_get_exactly_zero_gradient(tiny_model, tokenizer):
    tiny_model.train()
    examples = [dict(e, source="genes", spans=[s for s in e["spans"] if s[2] == "Gene"]) for e in SENTENCES]
    out = tiny_model(**batch_for(tiny_model, tokenizer, examples))
    grad = torch.autograd.grad(out.loss, out.logits)[0]
    mask = source_label_mask(tiny_model.config)[tiny_model.config.source_names.index("genes")]
    real = out.step_mask & (out.targets[..., EOA] == 0)  # at EOA the other heads are taught to stay closed
    assert mask.sum() == 2 * (len(tiny_model.config.head_names) - 1)  # every other source's heads
    assert torch.count_nonzero(grad[real][:, mask]) == 0
    assert torch.count_nonzero(grad[real][:, ~mask]) > 0


def test_shift_is_postponed_when_and_only_when_a_masked_action_beats_it(tokenizer):
    torch.manual_seed(0)
    tiny_model = SRUNERModel(tiny_config(heads="per_source")).train()  # another source's head of a type
    example = {"tokens": ["a", "b", "c"], "spans": [(0, 1, "Gene")]}
    gold_length = len(encode_spans([(0, 1, "genes$Gene")], 3, tiny_model.vocab))
    # Another source's head ("diseases" annotates Disease, "genes" does not) scores above SHIFT:
    # every gold SHIFT (three words) waits one step, never two.
    force_logits(tiny_model, SHIFT=0.0, **{"TRANSITION_diseases$Disease": 1.0})
    out = tiny_model(**batch_for(tiny_model, tokenizer, [dict(example, source="genes")]))
    steps = int(out.step_mask.sum())
    assert steps == gold_length + 3
    shift_targets = out.targets[0, :steps, SHIFT]
    p_shift = torch.sigmoid(torch.tensor(0.0))
    postponed = torch.isclose(shift_targets, p_shift)
    assert postponed.sum() == 3
    # The same scores on the source that owns that head, or a masked action below SHIFT: no postponement.
    out = tiny_model(**batch_for(tiny_model, tokenizer, [dict(example, source="diseases", spans=[])]))
    assert int(out.step_mask.sum()) == len(encode_spans([], 3, tiny_model.vocab))
    force_logits(tiny_model, SHIFT=0.0, **{"TRANSITION_diseases$Disease": -0.5})
    out = tiny_model(**batch_for(tiny_model, tokenizer, [dict(example, source="genes")]))
    assert int(out.step_mask.sum()) == gold_length
    assert set(out.targets[0, :, SHIFT].unique().tolist()) == {0.0, 1.0}


def test_masked_targets_are_own_probabilities_times_coefficient(tokenizer):
    torch.manual_seed(0)
    model = SRUNERModel(tiny_config(projection_coefficient=0.5))
    model.train()
    out = model(**batch_for(model, tokenizer, [dict(SENTENCES[0], source="genes", spans=[(2, 3, "Gene")])]))
    mask = source_label_mask(model.config)[model.config.source_names.index("genes")]
    steps = int(out.step_mask[0].sum())
    before_eoa = slice(0, steps - 1)
    expected = (torch.sigmoid(out.logits[0, before_eoa][:, mask]) * 0.5).clamp(max=1)
    torch.testing.assert_close(out.targets[0, before_eoa][:, mask], expected.detach())
    assert out.targets[0, steps - 1, EOA] == 1 and out.targets[0, steps - 1][mask].eq(0).all()  # the paper's EOA step


def test_decoders_agree_on_trained_weights(tokenizer):
    """After training the incremental decoder until it finds the gold spans, the naive one computes the same."""
    torch.manual_seed(4)
    incremental = SRUNERModel(tiny_config())
    optimizer = torch.optim.AdamW(incremental.parameters(), lr=1e-2)
    batch = batch_for(incremental, tokenizer, [dict(e, source="all") for e in SENTENCES])
    incremental.train()
    for _ in range(100):
        incremental(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    naive = SRUNERModel(tiny_config(decoder_implementation="naive"))
    naive.load_state_dict(incremental.state_dict())
    a, b = infer(incremental, tokenizer, SENTENCES), infer(naive, tokenizer, SENTENCES)
    assert [s[:3] for s in a.spans[0]] == [(2, 3, "Gene"), (4, 6, "Disease")]  # trained: it finds the gold spans
    assert (1, 3, "Gene") in {s[:3] for s in a.spans[2]}
    torch.testing.assert_close(a.action_probabilities, b.action_probabilities, atol=1e-5, rtol=0)
    assert torch.equal(a.actions, b.actions)
    assert [[s[:3] for s in row] for row in a.spans] == [[s[:3] for s in row] for row in b.spans]
    grads = []
    for model in (incremental, naive):
        model.train()
        model.zero_grad()
        torch.manual_seed(9)
        model(**batch).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-4, rtol=1e-3, msg=name)


def test_empty_sentence_gives_no_spans_and_trains(tiny_model, tokenizer):
    out = infer(tiny_model, tokenizer, [{"tokens": []}])
    assert out.spans == [[]] and int(out.step_mask.sum()) <= 3  # the budget: ceil(1.5 * (0 + 2)) steps
    tiny_model.train()
    loss = tiny_model(**batch_for(tiny_model, tokenizer, [{"tokens": [], "spans": [], "source": "all"}])).loss
    assert torch.isfinite(loss)


def test_clear_errors_on_bad_input(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="unknown entity type 'Species'"):
        batch_for(tiny_model, tokenizer, [{"tokens": ["E.", "coli"], "spans": [(0, 2, "Species")], "source": "all"}])
    with pytest.raises(ValueError, match="source 'genes' does not annotate 'Disease'"):
        batch_for(tiny_model, tokenizer, [{"tokens": ["x"], "spans": [(0, 1, "Disease")], "source": "genes"}])
    with pytest.raises(ValueError, match="unknown source 'bc2gm'.*genes"):
        batch_for(tiny_model, tokenizer, [{"tokens": ["x"], "spans": [], "source": "bc2gm"}])
    with pytest.raises(ValueError, match="limit is 405"):
        batch_for(tiny_model, tokenizer, [{"tokens": ["word"] * 500}])


def test_save_and_load_give_identical_outputs(tiny_model, tokenizer, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert {"modeling_srunear.py", "configuration_srunear.py", "transition_system.py", "decoder_srunear.py",
            "policies_srunear.py", "incremental_srunear.py"} <= set(files)
    loaded = SRUNERModel.from_pretrained(tmp_path)
    a, b = infer(tiny_model, tokenizer, SENTENCES), infer(loaded, tokenizer, SENTENCES)
    # equal up to BLAS rounding, which can depend on where the weights lie in memory
    torch.testing.assert_close(a.action_probabilities, b.action_probabilities, atol=1e-6, rtol=0)
    assert [[s[:3] for s in row] for row in a.spans] == [[s[:3] for s in row] for row in b.spans]



def test_encoder_config_is_a_sub_config_saved_as_a_dict_with_its_model_type(tiny_model, tmp_path):
    import json

    from transformers import BertConfig

    from modeling_srunear import SRUNERConfig

    assert isinstance(tiny_model.config.encoder_config, BertConfig)
    assert "encoder_config" in SRUNERConfig.sub_configs
    tiny_model.config.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())["encoder_config"]
    assert stored["model_type"] == "bert" and stored["hidden_size"] == 32
    # a folder saved when the field was a plain dict loads the same way
    loaded = SRUNERConfig.from_pretrained(tmp_path)
    assert isinstance(loaded.encoder_config, BertConfig) and loaded.encoder_config.num_hidden_layers == 1
    assert SRUNERModel(loaded).encoder.config.hidden_size == 32
def test_a_loaded_model_trains_as_the_saved_one(tiny_model, tokenizer, tmp_path):
    """Label masks and every other training input survive saving: same loss and steps after loading."""
    tiny_model.save_pretrained(tmp_path)
    loaded = SRUNERModel.from_pretrained(tmp_path)
    sources = {"genes": {"Gene"}, "diseases": {"Disease", "Chemical"}, "all": {"Gene", "Disease", "Chemical"}}
    examples = [dict(e, source=s, spans=[span for span in e["spans"] if span[2] in sources[s]])
                for e, s in zip(SENTENCES, sources)]
    batch = batch_for(tiny_model, tokenizer, examples)
    outputs = [model.eval()(**batch) for model in (tiny_model, loaded)]  # eval: no dropout, same computation
    torch.testing.assert_close(outputs[0].loss, outputs[1].loss)
    assert torch.equal(outputs[0].step_mask, outputs[1].step_mask)


REMOTE_LOAD = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModel, AutoTokenizer
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    words = %(words)r
    enc = tokenizer([words], is_split_into_words=True, return_tensors="pt")
    word_ids = torch.tensor([[-1 if w is None else w for w in enc.word_ids(0)]])
    with torch.no_grad():
        out = model(**enc, word_ids=word_ids, num_words=torch.tensor([len(words)]))
    print(json.dumps({"spans": out.spans[0], "probs": out.action_probabilities[0].tolist()}))
    """
)


def test_remote_code_load_in_a_process_that_cannot_see_the_project(tiny_model, tokenizer, tmp_path):
    import json

    with torch.no_grad():  # make the random model find something
        tiny_model.decoder.output_layer.bias[tiny_model.vocab.transition(tiny_model.config.head_of("all", "Gene"))] += 0.5
    saved = tmp_path / "saved"
    tiny_model.save_pretrained(saved)
    tokenizer.save_pretrained(saved)
    elsewhere = tmp_path / "elsewhere" / "model"
    shutil.copytree(saved, elsewhere)
    words = SENTENCES[2]["tokens"]
    script = BLOCK_PROJECT_IMPORTS + REMOTE_LOAD % {"words": words}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([sys.executable, "-c", script, str(elsewhere)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    local = infer(tiny_model, tokenizer, [{"tokens": words}])
    assert [tuple(s[:3]) for s in remote["spans"]] == [s[:3] for s in local.spans[0]]
    torch.testing.assert_close(torch.tensor(remote["probs"]), local.action_probabilities[0], atol=1e-6, rtol=0)


def test_trains_with_the_transformers_trainer(tiny_model, tokenizer, tmp_path):
    from transformers import Trainer, TrainingArguments

    examples = [dict(e, source="all") for e in SENTENCES] * 4
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, report_to=[],
                             use_cpu=True, remove_unused_columns=False, save_strategy="no", logging_steps=1)
    trainer = Trainer(model=tiny_model, args=args, train_dataset=examples,
                      data_collator=SRUNERDataCollator(tokenizer, tiny_model.config))
    before = tiny_model.decoder.output_layer.weight.detach().clone()
    result = trainer.train()
    assert result.global_step == 3 and result.training_loss > 0
    assert not torch.equal(before, tiny_model.decoder.output_layer.weight)


def test_decoder_runs_in_float32_under_mixed_precision(tiny_model, tokenizer):
    """Under bf16 autocast the encoder runs in bf16 but the decoder's steps stay float32."""
    tiny_model.eval()  # no dropout: the two runs differ only by the encoder's rounding
    batch = batch_for(tiny_model, tokenizer, [dict(e, source="all") for e in SENTENCES])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny_model(**batch)
    assert out.logits.dtype == torch.float32
    out.loss.backward()
    grads = [p.grad for p in tiny_model.decoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        reference = tiny_model(**batch)
    assert abs(float(reference.loss) - float(out.loss.detach())) < 0.05 * float(reference.loss)


def test_postponed_shift_target_detached_or_attached(tokenizer):
    """Attached (default, the authors' code): -logit * p * (1 - p) for each postponed SHIFT; detached: no gradient."""
    bias_grads = {}
    for target in ("detached", "attached"):
        torch.manual_seed(0)
        model = SRUNERModel(tiny_config(postponed_shift_target=target, heads="per_source")).train()
        force_logits(model, SHIFT=0.7, **{"TRANSITION_diseases$Disease": 1.0})  # logits = the output bias
        out = model(**batch_for(model, tokenizer, [{"tokens": ["a", "b"], "spans": [], "source": "genes"}]))
        steps = int(out.step_mask.sum())
        postponed = torch.isclose(out.targets[0, :steps, SHIFT], torch.sigmoid(torch.tensor(0.7)))
        assert postponed.sum() == 2
        bias_grads[target] = torch.autograd.grad(out.loss, model.decoder.output_layer.bias)[0][SHIFT]
    p = torch.sigmoid(torch.tensor(0.7))
    expected = 2 * -0.7 * p * (1 - p) / (len(model.vocab) * steps)
    torch.testing.assert_close(bias_grads["attached"] - bias_grads["detached"], expected)


def test_defaults_are_the_measured_settings_and_paper_settings_give_the_authors_model(tmp_path):
    import json

    from modeling_srunear import PAPER_SETTINGS, SRUNERConfig

    default = SRUNERConfig(entity_types=["A"], sources={"x": ["A"], "y": ["A"]})
    assert (default.heads, default.decoding, default.parser_state) == ("shared", "threshold", "slot")
    assert not default.per_source_heads and default.head_names == ["A"]
    paper = SRUNERConfig(entity_types=["A"], sources={"x": ["A"], "y": ["A"]}, **PAPER_SETTINGS)
    assert (paper.heads, paper.decoding, paper.parser_state) == ("per_source", "paper", "word")
    assert paper.head_names == ["x$A", "y$A"]
    # the settings without a measured reason to differ stay the paper's
    assert (default.initialization, default.postponed_shift_target) == ("paper", "attached")
    # a saved folder names every choice, so a later change of defaults never changes a saved model
    default.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {k: saved[k] for k in ("heads", "decoding", "parser_state")} == {
        "heads": "shared", "decoding": "threshold", "parser_state": "slot"}
