"""Load a saved ProtST folder with `trust_remote_code=True` where `protst_hf` cannot be imported.

Run by tests/test_modeling_protst.py as `python remote_code_check.py FOLDER EXPECTED.pt` (possibly with another
interpreter holding the oldest supported transformers). Exits non-zero, with a message, on any difference.
"""

import json
import sys

sys.modules["protst_hf"] = None  # `import protst_hf` now raises ImportError in this process

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoProcessor,
    __version__,
)


def main(folder: str, expected_path: str) -> None:
    try:
        import protst_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("protst_hf is importable: the check would not test the Hub code")
    expected = torch.load(expected_path)
    report = {"transformers": __version__}

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    pretraining = AutoModelForPreTraining.from_pretrained(folder, trust_remote_code=True).eval()
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    classifier = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True, num_labels=3)
    for obj in (config, processor, pretraining, model, classifier):
        module = type(obj).__module__
        if "protst_hf" in module or not module.startswith("transformers_modules"):
            raise SystemExit(f"{type(obj).__name__} came from {module}, not from the folder's code")
    report["classes"] = [type(o).__name__ for o in (config, processor, pretraining, model, classifier)]

    batch = processor(**expected["processor_inputs"], return_tensors="pt")
    for key, value in expected["batch"].items():
        if not torch.equal(batch[key], value):
            raise SystemExit(f"processor output {key} differs")

    with torch.no_grad():
        out = model(**batch)
        pre = pretraining(**expected["pretraining_batch"])
    checks = {
        "logits_per_protein": out.logits_per_protein,
        "protein_embeds": out.protein_embeds,
        "text_embeds": out.text_embeds,
        "loss": pre.loss,
        "mlm_loss": pre.mlm_loss,
        "mmp_text_loss": pre.mmp_text_loss,
    }
    report["max_abs_diff"] = {}
    for name, value in checks.items():
        diff = (value - expected[name]).abs().max().item()
        report["max_abs_diff"][name] = diff
        if diff > 1e-5:
            raise SystemExit(f"{name} differs by {diff}")
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
