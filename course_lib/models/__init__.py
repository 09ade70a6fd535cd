"""Models of the course: per-modality encoders, fusion modules and the models that join them.

    from course_lib.models import ImageEncoder, AudioEncoder, make_fusion, MultimodalModel

One file per family (see ``course_lib/README.md`` for the map). The names below are loaded
on first use, so ``import course_lib.models.tcn`` (or any one file) imports only what that
file needs, not torchvision.
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module (under ``course_lib.models``) that defines it.
_HOMES: dict[str, str] = {
    "AlignedConcatFusion": "temporal_fusion",
    "AttentionReasoner": "vqa_reasoners",
    "AudioEncoder": "encoders",
    "CBOW": "text_encoders",
    "CNNMLPReasoner": "vqa_reasoners",
    "CodedQuestionEncoder": "vqa_encoders",
    "CausalConv1d": "tcn",
    "ConcatFusion": "fusion_basic",
    "ConvEncoder2d": "encoders",
    "ConvImageEncoder": "vqa_encoders",
    "CrossModalAttention": "attention",
    "DecisionFusion": "decision_fusion",
    "EarlyFusionModel": "early_fusion",
    "FUSION_METHODS": "fusion",
    "FiLM": "film",
    "FiLMBlock": "film",
    "FiLMReasoner": "vqa_reasoners",
    "FrameClassifier": "video",
    "FrameEncoder": "video",
    "Fusion": "fusion_base",
    "GatedFusion": "fusion_basic",
    "GlimpseFrameEncoder": "glimpse",
    "ImageEncoder": "encoders",
    "LateFusion": "fusion_basic",
    "LateTemporalFusion": "temporal_fusion",
    "LogMelSpectrogram": "encoders",
    "LowRankFusion": "tensor_fusion",
    "MLPEncoder": "encoders",
    "MeanEmbedding": "text_encoders",
    "ModalityDropout": "modality_dropout",
    "ModalityDropoutModel": "modality_dropout",
    "MultimodalAutoencoder": "autoencoders",
    "MultimodalModel": "multimodal",
    "ObjectReasoner": "vqa_reasoners",
    "ObjectSlots": "relational",
    "ColourSlots": "relational",
    "slot_summary": "relational",
    "PaletteSlots": "contrastive",
    "PositionalTokenEncoder": "contrastive",
    "QuestionEncoder": "vqa_encoders",
    "R2Plus1dClassifier": "video",
    "RelationModule": "relational",
    "RelationalReasoner": "relational",
    "SceneEncoder": "contrastive",
    "SequenceEncoder": "temporal_models",
    "SlotImageEncoder": "vqa_encoders",
    "SynchronyModel": "temporal_models",
    "TCN": "tcn",
    "TemporalAttentionFusion": "temporal_fusion",
    "TemporalBlock": "tcn",
    "TemporalFusionModel": "temporal_models",
    "TensorFusion": "tensor_fusion",
    "TwoTowerModel": "contrastive",
    "VQAAutoencoder": "autoencoders",
    "VQAModel": "vqa",
    "contrastive_loss": "contrastive",
    "count_parameters": "multimodal",
    "drop_modalities": "modality_dropout",
    "make_fusion": "fusion",
    "make_head": "multimodal",
    "mlp": "blocks",
    "receptive_field": "tcn",
    "unimodal_model": "multimodal",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'course_lib.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"course_lib.models.{_HOMES[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
