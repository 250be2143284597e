"""Model families of protst-hf, and their registration with transformers.

Importing this package (every ProtST model, config, processor or pipeline module goes through it) registers ProtST
with transformers' Auto classes and pipeline registry: [`register`].
"""

import importlib
import os

_REGISTERED = False


def register() -> None:
    """Register the ProtST config, models, processor and pipelines with transformers (idempotent): afterwards
    `AutoModel.from_pretrained(folder)` and `pipeline(task, model=folder, pipeline_class=...)` use protst_hf's
    classes, and `save_pretrained` writes folders that also load with `trust_remote_code` where protst_hf is not
    installed. The table of classes is `models/protst/export_protst.py`."""
    global _REGISTERED
    if _REGISTERED:
        return
    import transformers
    from transformers.pipelines import PIPELINE_REGISTRY

    from .protst.export_protst import AUTO_CLASSES, PIPELINES

    config_class = _class(AUTO_CLASSES["AutoConfig"])
    transformers.AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    config_class.register_for_auto_class()
    for auto_name, reference in AUTO_CLASSES.items():
        if auto_name == "AutoConfig":
            continue
        cls = _class(reference)
        getattr(transformers, auto_name).register(config_class, cls, exist_ok=True)
        cls.register_for_auto_class(auto_name)
    for task, reference in PIPELINES.items():
        if task not in PIPELINE_REGISTRY.supported_tasks:
            PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=_class(reference),
                                                pt_model=transformers.AutoModel, type="multimodal")
    _REGISTERED = True


def pipeline_class(task: str):
    """protst_hf's own pipeline class for a ProtST pipeline task."""
    from .protst.export_protst import PIPELINES

    if task not in PIPELINES:
        raise KeyError(f"unknown ProtST pipeline {task!r}; tasks: {sorted(PIPELINES)}")
    register()
    return _class(PIPELINES[task])


def pipeline(task: str, model=None, **kwargs):
    """`transformers.pipeline` for a ProtST task with protst_hf's own pipeline class: no `trust_remote_code` is
    needed (the installed package's code runs, not the folder's copy). Any argument of `transformers.pipeline`
    passes through (`device`, `batch_size`, `precision`, ...). A model given by name or path is loaded here, so
    `precision="auto"` (or `"int8"`) also quantises its towers to int8 where that is the fastest close route (x86
    CPUs without bf16 units, see `prepare_for_inference`); a model object is used as it is (prepare it yourself).

    Example:

    ```python
    >>> classify = protst_hf.pipeline("zero-shot-protein-classification", model="outputs/deeploc/model")
    >>> classify("MKTAYIAKQRQISFVKSHFSRQ", label_set="subcellular_location")
    ```
    """
    import transformers

    from .protst.inference_protst import prepare_for_inference, resolve_precision

    kwargs.setdefault("pipeline_class", pipeline_class(task))
    precision = kwargs.get("precision", "auto")
    owned = isinstance(model, (str, os.PathLike))  # loaded here, so its weights may be quantised in place
    if owned and precision == "int8":
        kwargs["precision"] = "float32"
    result = transformers.pipeline(task, model=model, **kwargs)
    if owned and resolve_precision(precision, result.device, quantize=True) == "int8":
        prepare_for_inference(result.model, packed=None, precision="int8")
    return result


def _class(reference: str):
    """"module.Class" of the models/protst folder -> the class."""
    module, name = reference.rsplit(".", 1)
    return getattr(importlib.import_module(f".protst.{module}", __name__), name)


register()

__all__ = ["pipeline", "pipeline_class", "register"]
