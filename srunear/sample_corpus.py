"""A small hand-written multi-source corpus for the quick start and for tests.

Sources annotate different entity types, the way real biomedical corpora do:
``genes_dna`` marks proteins and DNA regions (a protein name often sits inside a DNA
mention, so spans nest), ``chemicals_diseases`` marks chemicals and diseases, and a
few ``all_types`` sentences mark all four (they tell the model where a type is absent,
which the two partial sources cannot: each leaves the other's types unannotated).
Sentences are written from templates so that every span is exact by construction, and
split into words the way the pipeline splits text (``split_words``: "IL-2" is three words),
so that what the model learns on matches what it tags.
"""

from __future__ import annotations

import random

from modeling_srunear.text_segmentation import split_words

PROTEINS = ["IL-2", "NF-kappa B", "p53", "STAT3", "c-Jun", "GATA-1", "TNF-alpha", "CD28", "BRCA1", "Oct-2"]
CHEMICALS = ["cisplatin", "aspirin", "lithium", "haloperidol", "doxorubicin", "nicotine", "caffeine", "heparin"]
DISEASES = ["hepatitis", "nephrotoxicity", "hypertension", "diabetes", "seizures", "cardiomyopathy", "breast cancer"]

# Template pieces: (text, type or None); a piece with a nested list is an outer span around inner pieces.
# {P},{Q},{R}: proteins; {C},{E}: chemicals; {D}: a disease. A source marks only its own
# types, so chemicals and diseases in gene sentences (and proteins in chemical ones) are
# left unannotated, which is what the label masks are for.
GENE_TEMPLATES = [
    "{P} binds to the [DNA {Q} promoter] in activated T cells .",
    "Expression of the [DNA {P} gene] was induced by {C} .",
    "We cloned the [DNA {P} gene] and measured {P} levels .",
    "{P} and {Q} cooperate on the [DNA {R} enhancer] .",
    "Mutations in the [DNA {P} gene] cause {D} .",
    "The [DNA {P} locus] is silenced by {C} in resting cells .",
]
CHEMICAL_TEMPLATES = [
    "{C} treatment caused {D} in rats .",
    "Patients with {D} received {C} for two weeks .",
    "{C} - induced {D} was reduced by {E} .",
    "No case of {D} was seen after {C} , although {P} levels rose .",
    "The risk of {D} rises with {C} dose .",
]

SAMPLE_TEXT = (
    "Cisplatin treatment caused nephrotoxicity in two patients. "
    "In activated T cells, NF-kappa B binds to the IL-2 promoter, and STAT3 expression of the c-Jun gene was induced by aspirin."
)


def _render(template: str, fills: dict[str, str], types: dict[str, str]) -> dict:
    """Turn a template into words and (start, end, type) spans."""
    tokens: list[str] = []
    spans: list[tuple[int, int, str]] = []
    outer: list[tuple[int, str]] = []
    for piece in template.split():
        if piece.startswith("[DNA"):
            outer.append((len(tokens), "DNA"))
            continue
        closes = piece.endswith("]")
        piece = piece.rstrip("]")
        if piece.startswith("{") and piece.endswith("}"):
            key = piece[1:-1]
            words = [word for word, _, _ in split_words(fills[key])]
            if types.get(key):
                spans.append((len(tokens), len(tokens) + len(words), types[key]))
            tokens += words
        elif piece:
            tokens += [word for word, _, _ in split_words(piece)]
        if closes:
            start, entity_type = outer.pop()
            spans.append((start, len(tokens), entity_type))
    return {"tokens": tokens, "spans": [list(s) for s in spans]}


GENE_TYPES = {"P": "Protein", "Q": "Protein", "R": "Protein"}
CHEMICAL_TYPES = {"C": "Chemical", "D": "Disease", "E": "Chemical"}


def sample_examples(per_source: int = 24, seed: int = 0) -> list[dict]:
    """``per_source`` sentences from each partial source and a third as many fully annotated ones,
    reproducibly shuffled."""
    rng = random.Random(seed)
    examples = []
    for i in range(per_source):
        p, q, r = rng.sample(PROTEINS, 3)
        c, e = rng.sample(CHEMICALS, 2)
        fills = {"P": p, "Q": q, "R": r, "C": c, "E": e, "D": rng.choice(DISEASES)}
        gene_template = GENE_TEMPLATES[i % len(GENE_TEMPLATES)]
        chemical_template = CHEMICAL_TEMPLATES[i % len(CHEMICAL_TEMPLATES)]
        examples.append(dict(_render(gene_template, fills, GENE_TYPES), source="genes_dna"))
        examples.append(dict(_render(chemical_template, fills, CHEMICAL_TYPES), source="chemicals_diseases"))
        if i % 3 == 0:
            template = gene_template if i % 2 == 0 else chemical_template
            examples.append(dict(_render(template, fills, {**GENE_TYPES, **CHEMICAL_TYPES}), source="all_types"))
    rng.shuffle(examples)
    return examples


SAMPLE_SOURCES = {
    "genes_dna": ["Protein", "DNA"],
    "chemicals_diseases": ["Chemical", "Disease"],
    "all_types": ["Protein", "DNA", "Chemical", "Disease"],
}
SAMPLE_TYPES = ["Protein", "DNA", "Chemical", "Disease"]
