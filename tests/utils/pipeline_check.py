"""Run the ProtST pipelines of a saved folder with `trust_remote_code=True` where `protst_hf` cannot be imported.

Run by tests/test_pipelines.py as `python pipeline_check.py FOLDER EXPECTED.json`; prints a JSON report, exits
non-zero on any difference.
"""

import json
import sys

sys.modules["protst_hf"] = None  # `import protst_hf` now raises ImportError in this process

import numpy as np  # noqa: E402
from transformers import __version__, pipeline  # noqa: E402


def main(folder: str, expected_path: str) -> None:
    expected = json.load(open(expected_path))
    classify = pipeline("zero-shot-protein-classification", model=folder, trust_remote_code=True,
                        precision="float32")
    if "protst_hf" in type(classify).__module__:
        raise SystemExit("the pipeline came from protst_hf, not from the folder's code")
    result = classify(expected["proteins"], candidate_labels=expected["labels"])
    scores = [dict(zip(r["labels"], r["scores"])) for r in result]
    for got, want in zip(scores, expected["scores"]):
        if max(abs(got[k] - want[k]) for k in want) > 1e-5:
            raise SystemExit(f"zero-shot scores differ: {got} vs {want}")
    builtin = classify(expected["proteins"][0], label_set="subcellular_location")
    if len(builtin["labels"]) != 10 or abs(sum(builtin["scores"]) - 1) > 1e-5:
        raise SystemExit(f"the built-in label set did not load: {builtin}")
    features = pipeline("protein-feature-extraction", model=folder, trust_remote_code=True,
                        precision="float32")
    embeds = features(expected["proteins"])["protein_embeds"]
    if np.abs(embeds - np.asarray(expected["protein_embeds"])).max() > 1e-5:
        raise SystemExit("protein embeddings differ")
    retrieval = pipeline("protein-text-retrieval", model=folder, trust_remote_code=True,
                        precision="float32")
    hits = retrieval(expected["query"], proteins=list(zip(expected["ids"], expected["proteins"])), top_k=2)
    if [h["id"] for h in hits] != expected["retrieved"]:
        raise SystemExit(f"retrieval differs: {hits} vs {expected['retrieved']}")
    print(json.dumps({"transformers": __version__, "pipeline": type(classify).__name__,
                      "module": type(classify).__module__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
