"""srunear: transition-based nested NER trained on several partially annotated corpora.

Kept deliberately empty so importing one submodule (e.g. ``srunear.metrics``) never
pulls in torch or transformers as a side effect.
"""
