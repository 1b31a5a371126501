"""Load a saved SRU-NER model for scoring or tagging, refusing anything that is not one, whole.

``from_pretrained`` accepts any folder: given a plain BERT folder it builds a randomly
initialised decoder and only logs a warning, so a script would score (or tag with) noise
and exit 0. Here the folder's ``model_type`` must be ``srunear`` and every weight must load,
with none left over, before a model is handed back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["MODEL_TYPE", "check_folder_exists", "check_model_type", "load_model"]

MODEL_TYPE = "srunear"
_LISTED = 5  # weight names quoted in an error; the rest are counted


def check_folder_exists(model_dir: str | os.PathLike) -> None:
    """Fail with a useful message for a local folder that is not there (a Hub id is left to the Hub).

    A training run killed between the two renames that replace ``best/`` leaves the previous
    model in ``best.old/``; the message says so instead of pretending nothing was saved.
    """
    path = Path(model_dir).expanduser()
    if path.exists():
        return
    previous = path.with_name(path.name + ".old")
    if previous.is_dir():
        raise FileNotFoundError(
            f"no model at {model_dir}: a training run was stopped while replacing it; the previous model is at "
            f"{previous} (rename it back, or run train.py --resume, which does so)"
        )
    if path.is_absolute() or str(model_dir).startswith((".", "~")) or str(model_dir).count("/") != 1:
        raise FileNotFoundError(f"no model at {model_dir}: give the folder train.py saved (OUTPUT/best) or a Hub id")


def check_model_type(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The folder's config as a dict, after checking it describes an SRU-NER model."""
    from transformers import PretrainedConfig

    check_folder_exists(model_dir)
    config, _ = PretrainedConfig.get_config_dict(str(model_dir))
    found = config.get("model_type")
    if found != MODEL_TYPE:
        raise ValueError(
            f"{model_dir} holds a {found or 'untyped'!r} model, not an SRU-NER ({MODEL_TYPE!r}) model; "
            "give a folder saved by train.py (e.g. OUTPUT/best)"
        )
    return config


def _names(keys: Any) -> str:
    names = sorted(key if isinstance(key, str) else str(key[0]) for key in keys)
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def load_model(model_dir: str | os.PathLike):
    """``SRUNERModel.from_pretrained``, failing (with the weights' names) on missing, unexpected or misshapen weights."""
    from modeling_srunear import SRUNERModel

    check_model_type(model_dir)
    model, info = SRUNERModel.from_pretrained(str(model_dir), output_loading_info=True)
    problems = [
        f"{label} weights {_names(info.get(key) or ())}"
        for key, label in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "misshapen"))
        if info.get(key)
    ]
    if problems:
        raise ValueError(
            f"{model_dir} does not hold a complete SRU-NER model: {'; '.join(problems)}; "
            "it was not saved by this version of train.py, or a file is damaged"
        )
    return model
