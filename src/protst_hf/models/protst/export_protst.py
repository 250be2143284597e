"""What a saved ProtST folder carries for `trust_remote_code` users: the one table of ProtST's Auto classes and
pipelines, and the code and label-set files written beside the weights.

`protst_hf/__init__.py` registers the same classes natively from this table, and
`ProtSTPreTrainedModel.save_pretrained` calls [`write_hub_files`]. This file is shipped to the Hub with saved
models (the modeling file imports it, so a model loaded with `trust_remote_code` saves complete folders too): it
imports nothing from `protst_hf`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).parent

# Auto class -> "module.Class" of this folder
AUTO_CLASSES = {
    "AutoConfig": "configuration_protst.ProtSTConfig",
    "AutoModel": "modeling_protst.ProtSTModel",
    "AutoModelForPreTraining": "modeling_protst.ProtSTForPreTraining",
    "AutoModelForSequenceClassification": "modeling_protst.ProtSTForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_protst.ProtSTForTokenClassification",
    "AutoProcessor": "processing_protst.ProtSTProcessor",
}

# pipeline task -> "module.Class" of this folder; every one runs on `AutoModel`
PIPELINES = {
    "zero-shot-protein-classification": "pipeline_protst.ZeroShotProteinClassificationPipeline",
    "protein-feature-extraction": "pipeline_protst.ProteinFeatureExtractionPipeline",
    "protein-text-retrieval": "pipeline_protst.ProteinTextRetrievalPipeline",
}

# The two tiers of shipped code. What `AutoConfig` / `AutoModel` / `AutoProcessor` need: the config, the modeling
# file and its relative imports, the processor and its own (transformers copies these itself when it saves a class
# registered for the Auto classes, and fetches them for `trust_remote_code`).
MODEL_FILES = ("configuration_protst.py", "modeling_protst.py", "losses_protst.py", "packing_protst.py",
               "export_protst.py", "processing_protst.py", "texts_protst.py")
# What the pipelines need on top, copied by [`write_hub_files`]: the pipelines, embedding loops and precision, the
# FAISS index and the folder protocol it is saved by, FASTA input, and zero-shot scoring split by concern (label
# prompts and training texts, the prior, the classifier, calibration).
PIPELINE_FILES = ("pipeline_protst.py", "inference_protst.py", "index_protst.py", "folder_protst.py",
                  "fasta_protst.py", "prompts_protst.py", "prior_protst.py", "zero_shot_protst.py",
                  "calibration_protst.py", "processing_protst.py", "texts_protst.py")
LABEL_SETS = "label_sets"


def write_hub_files(save_directory: str | Path) -> None:
    """Copy the pipeline code files and the built-in label sets into `save_directory`."""
    save_directory = Path(save_directory)
    for name in PIPELINE_FILES:
        if (HERE / name).is_file():
            shutil.copyfile(HERE / name, save_directory / name)
    if (HERE / LABEL_SETS).is_dir():
        shutil.copytree(HERE / LABEL_SETS, save_directory / LABEL_SETS, dirs_exist_ok=True)


def auto_map(existing: dict | None = None) -> dict:
    """The config's `auto_map`: every ProtST model class and the config (the processor's entry lives in its own
    `processor_config.json`), keeping entries already there."""
    models = {k: v for k, v in AUTO_CLASSES.items() if k != "AutoProcessor"}
    return {**models, **(existing or {})}


def custom_pipelines() -> dict:
    """The config's `custom_pipelines`, as transformers reads them for `pipeline(task, model=folder)`."""
    return {task: {"impl": impl, "pt": ["AutoModel"], "type": "multimodal"} for task, impl in PIPELINES.items()}


__all__ = ["AUTO_CLASSES", "MODEL_FILES", "PIPELINES", "PIPELINE_FILES", "auto_map", "custom_pipelines",
           "write_hub_files"]
