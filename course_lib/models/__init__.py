"""Models of the course: per-modality encoders, fusion modules and the model that joins them.

    from course_lib.models import ImageEncoder, AudioEncoder, make_fusion, MultimodalModel
"""
from course_lib.models.attention import CrossModalAttention
from course_lib.models.encoders import AudioEncoder, ImageEncoder, LogMelSpectrogram, MLPEncoder
from course_lib.models.fusion import FUSION_METHODS, make_fusion
from course_lib.models.film import FiLM, FiLMBlock
from course_lib.models.fusion_base import Fusion
from course_lib.models.fusion_basic import ConcatFusion, GatedFusion, LateFusion
from course_lib.models.modality_dropout import ModalityDropout, ModalityDropoutModel
from course_lib.models.multimodal import (
    MultimodalModel,
    count_parameters,
    make_head,
    unimodal_model,
)
from course_lib.models.tcn import TCN, receptive_field
from course_lib.models.temporal_fusion import AlignedConcatFusion, LateTemporalFusion, TemporalAttentionFusion
from course_lib.models.tensor_fusion import LowRankFusion, TensorFusion
from course_lib.models.text_encoders import CBOW, MeanEmbedding
from course_lib.models.video import FrameClassifier, FrameEncoder, R2Plus1dClassifier

__all__ = [
    "CBOW",
    "FUSION_METHODS",
    "TCN",
    "AlignedConcatFusion",
    "AudioEncoder",
    "ConcatFusion",
    "CrossModalAttention",
    "FiLM",
    "FiLMBlock",
    "FrameClassifier",
    "FrameEncoder",
    "Fusion",
    "GatedFusion",
    "ImageEncoder",
    "LateFusion",
    "LateTemporalFusion",
    "LogMelSpectrogram",
    "LowRankFusion",
    "MLPEncoder",
    "MeanEmbedding",
    "ModalityDropout",
    "ModalityDropoutModel",
    "MultimodalModel",
    "R2Plus1dClassifier",
    "TemporalAttentionFusion",
    "TensorFusion",
    "count_parameters",
    "make_fusion",
    "make_head",
    "receptive_field",
    "unimodal_model",
]
