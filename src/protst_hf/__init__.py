"""protst-hf: ProtST (protein language model + biomedical text model) on the Hugging Face stack.

Importing `protst_hf` registers the ProtST classes with the transformers Auto classes, natively, and marks
them for `register_for_auto_class` so that every saved folder carries its code for `trust_remote_code`.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoProcessor,
)

from .data.collator import ProtSTDataCollatorForPretraining
from .models.protst import (
    ProtSTConfig,
    ProtSTForPreTraining,
    ProtSTForPreTrainingOutput,
    ProtSTForSequenceClassification,
    ProtSTForTokenClassification,
    ProtSTModel,
    ProtSTOutput,
    ProtSTPreTrainedModel,
    ProtSTProcessor,
    ProtSTSequenceClassifierOutput,
    contrastive_loss,
    masked_cross_entropy,
)
from .models.protst.index_protst import MismatchedModelError, ProteinIndex
from .models.protst.pipeline_protst import (
    ProteinFeatureExtractionPipeline,
    ProteinTextRetrievalPipeline,
    ZeroShotProteinClassificationPipeline,
    fit_temperature,
    read_fasta,
)

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(ProtSTConfig.model_type, ProtSTConfig, exist_ok=True)
    for auto_class, model_class in (
        (AutoModel, ProtSTModel),
        (AutoModelForPreTraining, ProtSTForPreTraining),
        (AutoModelForSequenceClassification, ProtSTForSequenceClassification),
        (AutoModelForTokenClassification, ProtSTForTokenClassification),
    ):
        auto_class.register(ProtSTConfig, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_class.__name__)
    AutoProcessor.register(ProtSTConfig, ProtSTProcessor, exist_ok=True)
    ProtSTConfig.register_for_auto_class()
    ProtSTProcessor.register_for_auto_class("AutoProcessor")
    from transformers.pipelines import PIPELINE_REGISTRY

    for task, pipeline_class in (
        ("zero-shot-protein-classification", ZeroShotProteinClassificationPipeline),
        ("protein-feature-extraction", ProteinFeatureExtractionPipeline),
        ("protein-text-retrieval", ProteinTextRetrievalPipeline),
    ):
        if task not in PIPELINE_REGISTRY.supported_tasks:
            PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=pipeline_class, pt_model=AutoModel,
                                                type="multimodal")


_register()

__all__ = [
    "MismatchedModelError",
    "ProteinFeatureExtractionPipeline",
    "ProteinIndex",
    "ProteinTextRetrievalPipeline",
    "ZeroShotProteinClassificationPipeline",
    "fit_temperature",
    "read_fasta",
    "ProtSTConfig",
    "ProtSTDataCollatorForPretraining",
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
    "masked_cross_entropy",
]
