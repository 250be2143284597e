"""Zero-shot subcellular localization on PEER's validation split with the zero-shot pipeline, beside the
majority-class baseline.

    python -m benchmarks.zero_shot_peer [--model outputs/pretrain/best outputs/deeploc_learning/model]

Reads `../shared/data/peer_localization/peer_subcellular_localization_valid.csv` (2,810 DeepLoc 1.0 proteins, 10
classes; no redistribution licence: read in place, skipped cleanly when absent). Each model (a saved ProtST
folder, e.g. the main job's `outputs/pretrain/best` or `benchmarks/deeploc_learning.py`'s
`outputs/deeploc_learning/model`) classifies every protein through the zero-shot pipeline with the built-in label
sets `subcellular_location` (Swiss-Prot's words), `subcellular_location_protst` (the original's prompts) and
`subcellular_location_description`, reading proteins as its processor says.

Printed per model: accuracy, the majority-class baseline, and the same on the proteins whose exact sequence is /
is not in the DeepLoc pretraining pairs (`--pairs`, when present: DeepLoc 1.0 and 2.0 share proteins, so a
model pretrained on the DeepLoc pairs has seen most of these proteins with their location text); then
temperature scaling fitted on the even-numbered proteins and its effect on the odd ones (NLL, ECE).
"""

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "peer_localization"
SPLIT = DATA / "peer_subcellular_localization_valid.csv"


def accuracy(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> str:
    if not mask.any():
        return "   -  "
    majority = Counter(truth[mask]).most_common(1)[0][1] / mask.sum()
    return f"{(predicted[mask] == truth[mask]).mean():.3f} (majority {majority:.3f}, n={mask.sum()})"


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["outputs/pretrain/best", "outputs/deeploc_learning/model"])
    parser.add_argument("--pairs", default="outputs/deeploc_learning/pairs/data/train-00000-of-00001.parquet",
                        help="pretraining pairs whose sequences count as seen")
    parser.add_argument("--limit", type=int, help="only the first N proteins (a quick check)")
    args = parser.parse_args()
    if not SPLIT.is_file():
        print(f"skipped: {SPLIT} is not present")
        return

    import protst_hf
    from protst_hf.models.protst.calibration_protst import expected_calibration_error, fit_temperature

    with open(SPLIT) as f:
        rows = list(csv.DictReader(f))[: args.limit]
    sequences = [r["sequence"] for r in rows]
    truth = np.array([int(r["label"]) for r in rows])
    seen = np.zeros(len(rows), dtype=bool)
    if Path(args.pairs).is_file():
        import pyarrow.parquet as pq

        pretraining = set(pq.read_table(args.pairs, columns=["sequence"]).column("sequence").to_pylist())
        seen = np.array([s in pretraining for s in sequences])
    print(f"{len(rows)} proteins, 10 classes; {seen.sum()} of them in the DeepLoc pretraining pairs")
    for name in args.model:
        if not Path(name).exists():
            print(f"\n{name}: not found, skipped (run the main job / benchmarks/deeploc_learning.py first)")
            continue
        classify = protst_hf.pipeline("zero-shot-protein-classification", model=name, precision="float32")
        print(f"\n## {name}")
        for label_set in ("subcellular_location", "subcellular_location_protst", "subcellular_location_description"):
            results = classify(sequences, label_set=label_set, return_logits=True, batch_size=32)
            logits = np.array([r["logits"] for r in results])
            predicted = logits.argmax(1)  # label sets list the classes in PEER's order, ids 0..9
            print(f"{label_set:<34} all: {accuracy(predicted, truth, np.ones_like(seen))}")
            if seen.any():
                print(f"{'':<34} seen in pretraining: {accuracy(predicted, truth, seen)}")
                print(f"{'':<34} unseen: {accuracy(predicted, truth, ~seen)}")
            fit, check = np.arange(len(rows)) % 2 == 0, np.arange(len(rows)) % 2 == 1
            temperature = fit_temperature(logits[fit], truth[fit])
            for tag, t in (("T=1", 1.0), (f"T={temperature:.3f}", temperature)):
                p = torch.softmax(torch.as_tensor(logits[check], dtype=torch.float64) / t, -1).numpy()
                nll = -np.log(p[np.arange(len(p)), truth[check]] + 1e-12).mean()
                ece = expected_calibration_error(p, truth[check])
                print(f"{'':<34} odd half, {tag:<8}: NLL {nll:.3f}, ECE {ece:.3f}")


if __name__ == "__main__":
    main()
