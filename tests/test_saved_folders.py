"""Model folders saved before the re-layout of the package keep loading and computing what they computed."""

import json

import torch

from protst_hf import ProtSTForPreTraining, ProtSTModel, ProtSTProcessor
from utils.builders import FIXTURES

SAVED = FIXTURES / "saved_model_2077500"


def test_a_folder_saved_by_commit_2077500_gives_the_same_outputs():
    expected = json.loads((SAVED / "expected_outputs.json").read_text())
    processor = ProtSTProcessor.from_pretrained(SAVED)
    model = ProtSTModel.from_pretrained(SAVED).eval()
    batch = processor(proteins=expected["proteins"], text=expected["texts"], return_tensors="pt")
    with torch.no_grad():
        output = model(**batch)
    for key in ("protein_embeds", "text_embeds", "logits_per_protein"):
        reference = torch.tensor(expected[key])
        # float32 sums over at most a few hundred terms: 1e-5 of the scale is far above their rounding
        assert (getattr(output, key) - reference).abs().max() <= 1e-5 * reference.abs().max(), key

    pretraining = ProtSTForPreTraining.from_pretrained(SAVED).eval()
    recorded = {k: torch.tensor(v) for k, v in expected["pretraining_batch"].items()}
    with torch.no_grad():
        terms = pretraining(**recorded)
    for key, value in expected["pretraining_terms"].items():
        assert abs(float(getattr(terms, key)) - value) <= 1e-5 * max(abs(value), 1.0), key
