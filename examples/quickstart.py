"""Quickstart, offline: build ProtST from configs, score proteins against texts, save, reload with AutoModel.

    python examples/quickstart.py [OUTPUT_DIR]

Uses the package's built-in resources (ESM-2 8M architecture, a demo text vocabulary, real Swiss-Prot pairs) with
random weights, so the scores are untrained. With the Hub reachable, start from the real towers instead:

    model = ProtSTModel.from_protein_text_pretrained(
        "facebook/esm2_t33_650M_UR50D", "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract")
"""

import sys
import tempfile

import torch
from transformers import AutoModel, AutoProcessor

import protst_hf  # noqa: F401  (registers the Auto classes)
from protst_hf import ProtSTModel
from protst_hf.resources import demo_config, demo_processor, demo_rows


def main(output_dir: str) -> None:
    torch.manual_seed(0)
    model, processor = ProtSTModel(demo_config()).eval(), demo_processor()
    row = demo_rows()[0]
    labels = ["SUBCELLULAR LOCATION: Nucleus.", "SUBCELLULAR LOCATION: Cell membrane.", row["function"]]
    batch = processor(proteins=[row["sequence"]], text=labels, return_tensors="pt")
    with torch.no_grad():
        probs = model(**batch).logits_per_protein.softmax(-1)[0]
    print(f"{row['accession']} ({len(row['sequence'])} residues), {model.num_parameters():,} parameters")
    for label, p in zip(labels, probs.tolist()):
        print(f"  {p:.3f}  {label[:70]}")

    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    reloaded, reprocessor = AutoModel.from_pretrained(output_dir).eval(), AutoProcessor.from_pretrained(output_dir)
    with torch.no_grad():
        again = reloaded(**reprocessor(proteins=[row["sequence"]], text=labels, return_tensors="pt"))
    same = torch.allclose(again.logits_per_protein.softmax(-1)[0], probs)
    print(f"saved to {output_dir}; reloaded as {type(reloaded).__name__}: identical scores = {same}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="protst-quickstart-"))
