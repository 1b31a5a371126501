"""The decoder: the paper's computation piece by piece, and the two implementations agreeing."""

import random

import pytest
import torch
from helpers import tiny_config

from modeling_srunear import SHIFT, SRUNERDataCollator, SRUNERModel
from modeling_srunear.decoder_srunear import SRUNERDecoder, StepMasks, action_vocabulary, write_weights
from modeling_srunear.policies_srunear import PaperDecoding, TeacherForcing, ThresholdDecoding
from modeling_srunear.modeling_srunear import run_decoder
from modeling_srunear.modeling_srunear import gold_action_tensor
from modeling_srunear.transition_system import EOA, encode_spans

WORDS = "The p53 protein binds the p21 promoter in tumour cells .".split()


def random_gold(config, lengths, seed=0):
    """Gold action matrices of random nested spans over the decoder's heads."""
    vocab = action_vocabulary(config)
    rng = random.Random(seed)
    sequences = []
    for n in lengths:
        spans = set()
        for _ in range(n // 2):
            start = rng.randrange(n)
            spans.add((start, min(n, start + rng.choice([1, 2, 3])), rng.choice(vocab.entity_types)))
        spans = [s for s in spans if not any(t[2] == s[2] and t[0] < s[0] < t[1] < s[1] for t in spans)]
        sequences.append(encode_spans(spans, n, vocab))
    return gold_action_tensor(sequences, len(vocab), padding=0.0)


def teacher_forced_run(config, reference, lengths, gold, sources, seed=5):
    """Logits, gradients (slots and every parameter) and postponements of one teacher-forced run."""
    decoder = SRUNERDecoder(config, 32)
    decoder.load_state_dict(reference.state_dict())
    decoder.train()
    torch.manual_seed(seed)
    slots = torch.randn(len(lengths), max(lengths) + 2, 32, requires_grad=True)
    valid = torch.arange(max(lengths) + 2)[None] <= (torch.tensor(lengths) + 1)[:, None]
    policy = TeacherForcing(gold, decoder.label_masks(sources))
    logits = run_decoder(decoder, policy, slots, valid, torch.tensor(lengths))
    (logits * torch.linspace(-1, 1, logits.numel()).view_as(logits)).sum().backward()
    grads = {"slots": slots.grad, **{n: p.grad for n, p in decoder.named_parameters() if p.grad is not None}}
    postponed = sum(int(r[2].sum()) for r in policy.records if r[2] is not None)
    return logits.detach(), grads, postponed


@pytest.mark.parametrize(
    "settings",
    [
        dict(),  # the paper's decoder with every dropout on, per-source heads
        dict(attention_dropout=0.2, train_token_multiplier=True, token_multiplier=3.0),
        dict(parser_state="slot", initialization="small", heads="shared"),
        dict(positional_dropout=0.0, latent_dropout=0.0, mlp_dropout=0.0, half_context=3),
    ],
    ids=["paper", "score-dropout+trained-multiplier", "slot-state+small-init+shared", "no-dropout+short-window"],
)
def test_naive_and_incremental_agree_on_ragged_batches_with_label_masks(settings):
    """Ragged lengths (sentences finish at different steps), nested spans, SHIFT postponement."""
    config = tiny_config(**settings)
    lengths = [7, 0, 12, 3, 17, 5]
    gold = random_gold(config, lengths)
    sources = torch.tensor([0, 1, 2, 1, 0, 2])
    torch.manual_seed(1)
    reference = SRUNERDecoder(config, 32)
    with torch.no_grad():
        for p in reference.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    runs = {}
    for implementation in ("naive", "incremental"):
        config.decoder_implementation = implementation
        runs[implementation] = teacher_forced_run(config, reference, lengths, gold, sources)
    (naive_logits, naive_grads, naive_postponed), (logits, grads, postponed) = runs["naive"], runs["incremental"]
    assert naive_postponed == postponed
    torch.testing.assert_close(logits, naive_logits, atol=1e-5, rtol=0)
    assert grads.keys() == naive_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], naive_grads[name], atol=1e-4, rtol=1e-3, msg=name)


def test_postponed_shifts_happen_and_never_twice_in_a_row():
    config = tiny_config(heads="shared")
    vocab = action_vocabulary(config)
    gold = random_gold(config, [6])
    decoder = SRUNERDecoder(config, 32).eval()
    with torch.no_grad():  # an unannotated type (Disease, for source "genes") always beats SHIFT
        decoder.output_layer.weight.zero_()
        decoder.output_layer.bias.fill_(-3.0)
        decoder.output_layer.bias[SHIFT] = 0.0
        decoder.output_layer.bias[vocab.transition("Disease")] = 1.0
    genes = config.source_names.index("genes")
    policy = TeacherForcing(gold, decoder.label_masks(torch.tensor([genes])))
    slots = torch.zeros(1, 8, 32)
    run_decoder(decoder, policy, slots, torch.ones(1, 8, dtype=torch.bool), torch.tensor([6]))
    postponed = [bool(r[2][0]) for r in policy.records]
    gold_index = [int(r[1][0]) for r in policy.records]
    shifts = int(gold[0, :, SHIFT].sum())
    assert sum(postponed) == shifts  # every gold SHIFT waited exactly once
    assert not any(a and b for a, b in zip(postponed, postponed[1:]))
    assert [i for i, p in zip(gold_index, postponed) if p] == [i for i in range(gold.shape[1]) if gold[0, i, SHIFT]]


def test_memory_begins_with_cls_plus_start_vector_and_ends_with_sep(tokenizer):
    torch.manual_seed(0)
    model = SRUNERModel(tiny_config()).eval()
    batch = SRUNERDataCollator(tokenizer, model.config)([{"tokens": WORDS}, {"tokens": WORDS[:3]}])
    slots, valid = model.memory_slots(batch["input_ids"], batch["attention_mask"], batch["word_ids"], batch["num_words"])
    hidden = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert slots.shape[1] == len(WORDS) + 2 and valid.tolist()[1] == [True] * 5 + [False] * (len(WORDS) - 3)
    for row, n in enumerate((len(WORDS), 3)):
        torch.testing.assert_close(slots[row, 0], hidden[row, 0])  # CLS
        last = int(batch["attention_mask"][row].sum()) - 1
        assert batch["input_ids"][row, last] == tokenizer.sep_token_id
        torch.testing.assert_close(slots[row, n + 1], hidden[row, last])  # SEP
        first_word = (batch["word_ids"][row] == 0).nonzero().squeeze(1)
        torch.testing.assert_close(slots[row, 1], hidden[row, first_word].amax(0))  # a word: max over its subwords
    with torch.no_grad():
        model.decoder.start_vector.fill_(2.0)
    memory = model.decoder.initial_memory(slots)
    torch.testing.assert_close(memory[:, 0], slots[:, 0] + 2.0)
    torch.testing.assert_close(memory[:, 1:], slots[:, 1:])


def test_token_multiplier_scales_the_keys_only():
    """Multiplying the memory by k in the keys: the same attention as scaling the latent vectors by k."""
    config = tiny_config(positional_dropout=0.0, latent_dropout=0.0, mlp_dropout=0.0, token_multiplier=4.0)
    torch.manual_seed(2)
    decoder = SRUNERDecoder(config, 32).eval()
    with torch.no_grad():
        decoder.latent_vectors.normal_(0, 0.3)
        decoder.position_embeddings.weight.zero_()
    memory, valid = torch.randn(2, 6, 32), torch.ones(2, 6, dtype=torch.bool)
    rows, pointer, centre = torch.arange(2), torch.tensor([1, 2]), torch.tensor([0, 1])
    no_masks = StepMasks(None, None, None, None)
    scaled, scaled_memory = decoder.reference_step(memory, memory, valid, rows, pointer, centre, no_masks)
    with torch.no_grad():
        decoder.token_multiplier.fill_(1.0)
        decoder.latent_vectors.mul_(4.0)
    plain, plain_memory = decoder.reference_step(memory, memory, valid, rows, pointer, centre, no_masks)
    torch.testing.assert_close(scaled, plain)  # so the read values and the parser state are unscaled
    torch.testing.assert_close(scaled_memory, plain_memory)


def test_writes_are_the_softmax_kept_where_at_least_shift_not_renormalised():
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0, 1.0]])
    weights = write_weights(logits)
    softmax = logits.softmax(-1)
    torch.testing.assert_close(weights, softmax * torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]]))
    assert weights.sum() < 1


def test_attention_is_centred_on_the_slot_written_last():
    config = tiny_config()
    decoder = SRUNERDecoder(config, 32)
    ids = decoder.relative_position_ids(torch.tensor([0, 3]), 6)
    half = config.half_context
    assert ids[0].tolist() == [2 * half + 1] + [half + k for k in range(1, 6)]  # CLS has its own row
    assert ids[1].tolist() == [2 * half + 1, half - 2, half - 1, half, half + 1, half + 2]
    far = decoder.relative_position_ids(torch.tensor([1]), 2 * half + 4)[0]
    assert far[half + 2] == 2 * half + 2 and far[half + 1] == 2 * half  # out of window past +H, also at +H+1
    assert (ids != half + 3).all() or half + 3 in ids[0].tolist()  # +3 is an ordinary row, not padding
    assert decoder.position_embeddings.weight[half + 3].abs().sum() > 0


def forced(model, **logits):
    """Make the MLP output constant logits, e.g. forced(m, SHIFT=0.0, **{"TRANSITION(Gene)": 3.0})."""
    names = model.vocab.names()
    bias = torch.full((len(names),), -4.0)
    for name, value in logits.items():
        bias[names.index(name)] = value
    with torch.no_grad():
        model.decoder.output_layer.weight.zero_()
        model.decoder.output_layer.bias.copy_(bias)
    return model


def decode(model, tokenizer, words):
    model.eval()
    batch = SRUNERDataCollator(tokenizer, model.config)([{"tokens": words}])
    with torch.no_grad():
        out = model(**batch)
    steps = int(out.step_mask[0].sum())
    taken = [set(torch.nonzero(row).squeeze(1).tolist()) for row in out.actions[0, :steps]]
    return taken, out.spans[0]


@pytest.fixture
def shared_model():
    torch.manual_seed(0)
    return SRUNERModel(tiny_config(heads="shared", decoding="paper"))


def test_paper_decoding_shifts_when_shift_is_most_probable_even_with_actions_over_half(shared_model, tokenizer):
    words = ["a", "b", "c"]
    forced(shared_model, SHIFT=2.0, **{"TRANSITION(Gene)": 1.0, "REDUCE(Gene)": 1.0})
    taken, spans = decode(shared_model, tokenizer, words)
    assert taken == [{SHIFT}] * 4 and spans == []  # three words, then a SHIFT past the last ends it
    shared_model.config.decoding = "threshold"  # the alternative rule takes the structure first
    taken, _ = decode(shared_model, tokenizer, words)
    assert shared_model.vocab.transition("Gene") in taken[0]


def test_paper_decoding_stops_at_eoa_and_takes_every_action_over_half_otherwise(shared_model, tokenizer):
    forced(shared_model, EOA=2.0, SHIFT=1.0)
    assert decode(shared_model, tokenizer, ["a", "b"]) == ([{EOA}], [])
    # argmax is a TRANSITION: every TRANSITION/REDUCE over 0.5 is taken, the pointer stays until the budget ends
    forced(shared_model, SHIFT=-1.0, **{"TRANSITION(Gene)": 2.0, "TRANSITION(Disease)": 0.5, "REDUCE(Chemical)": 0.1})
    taken, spans = decode(shared_model, tokenizer, ["a", "b"])
    vocab = shared_model.vocab
    expected = {vocab.transition("Gene"), vocab.transition("Disease"), vocab.reduce("Chemical")}
    assert taken == [expected] * 6 and spans == []  # ceil(1.5 * (2 + 2)) steps


def test_paper_decoding_returns_spans_that_end_at_the_last_word(tmp_path, tokenizer):
    """The authors' decoder drops them (its bound check excludes the last word); ours keeps them."""
    from helpers import save_nudged_tiny_model

    from modeling_srunear import SRUNERModel as Model

    folder = save_nudged_tiny_model(tmp_path / "m", tokenizer)
    model = Model.from_pretrained(folder)
    taken, spans = decode(model, tokenizer, ["a", "b", "c"])
    assert [s[:3] for s in spans] == [(0, 1, "Gene"), (1, 2, "Gene"), (2, 3, "Gene")]


def test_incremental_graph_cannot_be_backpropagated_twice(tokenizer):
    torch.manual_seed(0)
    model = SRUNERModel(tiny_config()).train()
    batch = SRUNERDataCollator(tokenizer, model.config)([{"tokens": WORDS, "spans": [(1, 3, "Gene")], "source": "all"}])
    loss = model(**batch).loss
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already backpropagated"):
        loss.backward()


def test_decoding_runs_on_one_thread_training_keeps_the_threads_and_the_setting_is_restored(monkeypatch):
    """Decoding's tiny per-step operations collapse on a busy CPU with several intra-op threads;
    training steps (larger, with dropout masks) gain from them on an idle one."""
    import modeling_srunear.incremental_srunear as incremental

    config = tiny_config()
    decoder = SRUNERDecoder(config, 32)
    lengths = [5, 3]
    gold = random_gold(config, lengths)
    seen = []
    steps = {name: getattr(cls, "step") for name, cls in (("train", incremental._Run), ("decode", incremental.CachedScores))}

    def recorder(name):
        def step(self, *args):
            seen.append((name, torch.get_num_threads()))
            return steps[name](self, *args)
        return step

    monkeypatch.setattr(incremental._Run, "step", recorder("train"))
    monkeypatch.setattr(incremental.CachedScores, "step", recorder("decode"))
    monkeypatch.delenv("SRUNEAR_DECODER_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        slots = torch.randn(2, 7, 32, requires_grad=True)
        valid = torch.arange(7)[None] <= (torch.tensor(lengths) + 1)[:, None]
        policy = TeacherForcing(gold, torch.zeros(2, gold.shape[-1], dtype=torch.bool))
        run_decoder(decoder.train(), policy, slots, valid, torch.tensor(lengths)).sum().backward()
        with torch.no_grad():
            run_decoder(decoder.eval(), PaperDecoding(torch.tensor(lengths), config), slots, valid, torch.tensor(lengths))
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("SRUNEAR_DECODER_THREADS", "0")  # leave torch's setting alone
        with torch.no_grad():
            run_decoder(decoder, PaperDecoding(torch.tensor(lengths), config), slots, valid, torch.tensor(lengths))
    finally:
        torch.set_num_threads(before)
    by_phase = {}
    for phase, threads in seen:
        by_phase.setdefault(phase, []).append(threads)
    assert set(by_phase["train"]) == {2}
    decode = by_phase["decode"]
    assert decode[: len(decode) // 2] and set(decode[: len(decode) // 2]) == {1} and set(decode[len(decode) // 2 :]) == {2}


def test_inference_weights_are_derived_once_per_weight_version(monkeypatch):
    """The pipeline must not pay for the weight-only precomputation per sentence, nor use stale weights."""
    import modeling_srunear.incremental_srunear as incremental

    derived = []
    latents = incremental._latents
    monkeypatch.setattr(incremental, "_latents", lambda *args: (derived.append(1), latents(*args))[1])
    config = tiny_config()
    decoder = SRUNERDecoder(config, 32).eval()
    naive = SRUNERDecoder(tiny_config(decoder_implementation="naive"), 32).eval()
    torch.manual_seed(3)
    slots = torch.randn(2, 7, 32)
    valid = torch.ones(2, 7, dtype=torch.bool)
    num_words = torch.tensor([5, 5])

    def logits(model):
        return run_decoder(model, PaperDecoding(num_words, model.config), slots, valid, num_words)

    with torch.no_grad():
        first = logits(decoder)
        assert torch.equal(logits(decoder), first) and len(derived) == 1
        decoder.latent_vectors.normal_()  # an in-place update, as an optimiser step makes
        decoder.hidden_layer.weight.mul_(1.5)
        updated = logits(decoder)
        assert len(derived) == 2
        naive.load_state_dict(decoder.state_dict())
        expected = logits(naive)
    assert updated.shape == expected.shape and torch.allclose(updated, expected, atol=1e-5)


@pytest.mark.parametrize("settings", [dict(), dict(decoding="threshold"), dict(parser_state="slot", decoding="threshold"),
                                      dict(parser_state="slot", heads="shared"), dict(inference_step_factor=0.6),
                                      dict(decoding="threshold", inference_step_factor=1.1)],
                         ids=["paper", "threshold", "slot+threshold", "slot+shared", "paper+step-budget",
                              "threshold+step-budget"])
def test_one_sentence_loop_decides_as_the_batched_loop(settings, monkeypatch):
    """A batch of one decodes on Python numbers (run_one_sentence): same logits, actions and spans."""
    import modeling_srunear.incremental_srunear as incremental

    config = tiny_config(**settings)
    vocab = action_vocabulary(config)
    decoder = SRUNERDecoder(config, 32).eval()
    torch.manual_seed(11)
    with torch.no_grad():
        for p in decoder.parameters():
            p.normal_(0, 0.5)  # a decoder that opens, closes and nests spans
        # and, under the paper's rule, shifts, ends at EOA over 0.5 and runs out of steps
        decoder.output_layer.bias[SHIFT] += 8.0
        decoder.output_layer.bias[EOA] -= 3.0
    lengths = [9, 1, 14, 4, 20, 0, 6]
    slots = torch.randn(len(lengths), max(lengths) + 2, 32)
    taken_by_single = []
    real_run_one = incremental.CachedScores.run_one
    monkeypatch.setattr(incremental.CachedScores, "run_one",
                        lambda self, *args: (taken_by_single.append(1), real_run_one(self, *args))[1])

    def decode(n, batched):
        """Actions and logits of sentence ``n``: alone, or batched after a longer sentence."""
        rows = [n] if not batched else [n, (n + 1) % len(lengths)]
        words = torch.tensor([lengths[i] for i in rows])
        valid = torch.arange(slots.shape[1])[None] <= (words + 1)[:, None]
        policy = (PaperDecoding(words, config) if config.decoding == "paper"
                  else ThresholdDecoding(words, config, vocab.num_types))
        with torch.no_grad():
            logits = run_decoder(decoder, policy, slots[rows], valid, words)
        chosen = policy.actions(logits)
        mine = torch.cat([record[0] for record in policy.records]) == 0
        return logits[mine], chosen[mine]

    structural = 0
    for n in range(len(lengths)):
        alone_logits, alone_actions = decode(n, batched=False)
        batched_logits, batched_actions = decode(n, batched=True)
        # logits up to ~20 here: float32 rounding of matrix-vector against batched products
        torch.testing.assert_close(alone_logits, batched_logits, atol=1e-5, rtol=1e-5)
        assert torch.equal(alone_actions, batched_actions), n
        structural += int(alone_actions[:, 2:].sum())
    assert len(taken_by_single) == len(lengths)  # every sentence alone went through the one-sentence loop
    assert structural > 5  # the rules were exercised: spans were opened and closed
