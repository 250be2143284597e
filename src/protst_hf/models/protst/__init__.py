"""The ProtST model family: the files of this folder are shipped to the Hub as custom code."""

from .configuration_protst import ProtSTConfig
from .losses_protst import contrastive_loss, gather_with_grad, masked_accuracy, masked_cross_entropy
from .modeling_protst import (
    ProtSTForPreTraining,
    ProtSTForPreTrainingOutput,
    ProtSTForSequenceClassification,
    ProtSTForTokenClassification,
    ProtSTModel,
    ProtSTOutput,
    ProtSTPreTrainedModel,
    ProtSTSequenceClassifierOutput,
)
from .processing_protst import ProtSTProcessor

__all__ = [
    "ProtSTConfig",
    "ProtSTForPreTraining",
    "ProtSTForPreTrainingOutput",
    "ProtSTForSequenceClassification",
    "ProtSTForTokenClassification",
    "ProtSTModel",
    "ProtSTOutput",
    "ProtSTPreTrainedModel",
    "ProtSTProcessor",
    "ProtSTSequenceClassifierOutput",
    "contrastive_loss",
    "gather_with_grad",
    "masked_accuracy",
    "masked_cross_entropy",
]
