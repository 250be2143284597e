"""protst-hf: ProtST (protein language model + biomedical text model) on the Hugging Face stack.

The top level is lazy, as transformers' own: `import protst_hf` imports neither torch nor transformers' model
stacks; each public name is imported on first use. Using any ProtST class (or calling [`register`]) registers the
ProtST classes with transformers' Auto classes and pipeline registry, natively, and marks them for
`register_for_auto_class` so that every saved folder carries its code for `trust_remote_code`:

```python
>>> import protst_hf
>>> protst_hf.register()                               # or: from protst_hf import ProtSTModel
>>> model = AutoModel.from_pretrained("protst-esm2")   # protst_hf's classes, no trust_remote_code
>>> classify = protst_hf.pipeline("zero-shot-protein-classification", model="protst-esm2")
```
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "ProtSTConfig": ".models.protst.configuration_protst",
    "ProtSTModel": ".models.protst.modeling_protst",
    "ProtSTForPreTraining": ".models.protst.modeling_protst",
    "ProtSTForPreTrainingOutput": ".models.protst.modeling_protst",
    "ProtSTForSequenceClassification": ".models.protst.modeling_protst",
    "ProtSTForTokenClassification": ".models.protst.modeling_protst",
    "ProtSTOutput": ".models.protst.modeling_protst",
    "ProtSTPreTrainedModel": ".models.protst.modeling_protst",
    "ProtSTSequenceClassifierOutput": ".models.protst.modeling_protst",
    "ProtSTTokenClassifierOutput": ".models.protst.modeling_protst",
    "ProtSTProcessor": ".models.protst.processing_protst",
    "contrastive_loss": ".models.protst.losses_protst",
    "masked_cross_entropy": ".models.protst.losses_protst",
    "ProteinIndex": ".models.protst.index_protst",
    "MismatchedModelError": ".models.protst.index_protst",
    "ZeroShotProteinClassificationPipeline": ".models.protst.pipeline_protst",
    "ProteinFeatureExtractionPipeline": ".models.protst.pipeline_protst",
    "ProteinTextRetrievalPipeline": ".models.protst.pipeline_protst",
    "fit_temperature": ".models.protst.calibration_protst",
    "read_fasta": ".models.protst.fasta_protst",
    "prepare_for_inference": ".models.protst.inference_protst",
    "ProtSTDataCollatorForPretraining": ".data.collator",
    "register": ".models",
    "pipeline": ".models",
}

def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)  # importing models registers them
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = sorted(_PUBLIC)
