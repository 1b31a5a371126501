"""Configuration of SRU-NER: the encoder, the entity types, the sources and the decoder."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig


class SRUNERConfig(PretrainedConfig):
    """Holds everything needed to rebuild an SRU-NER model without the original encoder files.

    Args:
        encoder_config: the encoder's config as a dict (``encoder.config.to_dict()``); the
            encoder's weights live in the SRU-NER checkpoint, so only its shape is needed.
        encoder_name_or_path: where the encoder came from, for the model card and for
            re-downloading its tokenizer; not used to build the model.
        entity_types: all entity types the model can predict.
        sources: corpus name -> the entity types that corpus annotates. Actions of the
            other types are not penalised on that corpus's examples (label masks).
        action_space_dim: latent vectors per action in the memory attention.
        half_context: relative positions within this distance of the pointer get their own
            embedding; farther slots share an out-of-window embedding.
        positional_dropout, latent_dropout, attention_dropout, mlp_dropout: dropout rates.
        token_multiplier: scale of the word vectors; trainable if ``train_token_multiplier``.
        train_step_factor: at most this many times the gold number of steps in training
            (room for postponed SHIFTs).
        inference_step_factor: at most this many times the word count of steps at inference.
        projection_coefficient: masked actions get ``min(1, coef * p)`` as their target.
        loss_type: ``"multilabel_soft_margin"`` (mean over actions) or ``"bce"`` (sum over actions).
        max_subword_tokens: longest encoder input accepted, special tokens included.
        threshold: probability at which a structural action is taken at inference.
        decoder_implementation: ``"incremental"`` (fast) or ``"naive"`` (reference).
    """

    model_type = "srunear"

    def __init__(
        self,
        encoder_config: dict | None = None,
        encoder_name_or_path: str | None = None,
        entity_types: list[str] | None = None,
        sources: dict[str, list[str]] | None = None,
        action_space_dim: int = 2,
        half_context: int = 150,
        positional_dropout: float = 0.2,
        latent_dropout: float = 0.2,
        attention_dropout: float = 0.0,
        mlp_dropout: float = 0.1,
        token_multiplier: float = 1.0,
        train_token_multiplier: bool = False,
        train_step_factor: float = 2.0,
        inference_step_factor: float = 1.5,
        projection_coefficient: float = 1.0,
        loss_type: str = "multilabel_soft_margin",
        max_subword_tokens: int = 405,
        threshold: float = 0.5,
        decoder_implementation: str = "incremental",
        initializer_range: float = 0.02,
        **kwargs,
    ):
        if isinstance(encoder_config, PretrainedConfig):
            encoder_config = encoder_config.to_dict()
        self.encoder_config = dict(encoder_config or {"model_type": "bert"})
        self.encoder_name_or_path = encoder_name_or_path
        self.entity_types = list(entity_types or [])
        sources = {"default": list(self.entity_types)} if sources is None else sources
        self.sources = {name: list(types) for name, types in sources.items()}
        for name, types in self.sources.items():
            unknown = sorted(set(types) - set(self.entity_types))
            if unknown:
                raise ValueError(f"source {name!r} annotates {unknown}, which are not in entity_types {self.entity_types}")
        if loss_type not in ("multilabel_soft_margin", "bce"):
            raise ValueError(f"loss_type must be 'multilabel_soft_margin' or 'bce', got {loss_type!r}")
        if decoder_implementation not in ("incremental", "naive"):
            raise ValueError(f"decoder_implementation must be 'incremental' or 'naive', got {decoder_implementation!r}")
        self.action_space_dim = action_space_dim
        self.half_context = half_context
        self.positional_dropout = positional_dropout
        self.latent_dropout = latent_dropout
        self.attention_dropout = attention_dropout
        self.mlp_dropout = mlp_dropout
        self.token_multiplier = token_multiplier
        self.train_token_multiplier = train_token_multiplier
        self.train_step_factor = train_step_factor
        self.inference_step_factor = inference_step_factor
        self.projection_coefficient = projection_coefficient
        self.loss_type = loss_type
        self.max_subword_tokens = max_subword_tokens
        self.threshold = threshold
        self.decoder_implementation = decoder_implementation
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    @property
    def custom_pipelines(self) -> dict:
        """Pipelines this model folder ships as code, for ``trust_remote_code=True``.

        Hidden while the same tasks are registered in this process (our package is
        installed and imported): transformers would otherwise demand ``trust_remote_code``
        for a pipeline that is already available locally.
        """
        stored = self.__dict__.get("_custom_pipelines") or {}
        from transformers.pipelines import PIPELINE_REGISTRY

        if stored and all(task in PIPELINE_REGISTRY.get_supported_tasks() for task in stored):
            return {}
        return stored

    @custom_pipelines.setter
    def custom_pipelines(self, value: dict) -> None:
        self.__dict__["_custom_pipelines"] = value

    def to_dict(self) -> dict:
        output = super().to_dict()
        stored = output.pop("_custom_pipelines", None)
        if stored:
            output["custom_pipelines"] = stored
        return output

    @property
    def source_names(self) -> list[str]:
        return list(self.sources)

    def build_encoder_config(self) -> PretrainedConfig:
        """The encoder's own config object, rebuilt from the stored dict."""
        values = dict(self.encoder_config)
        return AutoConfig.for_model(values.pop("model_type"), **values)
