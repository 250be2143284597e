"""Localization fused from homology, embedding neighbours, zero-shot text and class frequencies, on DeepLoc 2.0's
partition 4, beside each evidence alone and the supervised baselines of the DeepLoc benchmark, in one run.

    python -m benchmarks.deeploc_learning --output outputs/deeploc_learning --train-only    # the model
    python -m benchmarks.deeploc_annotation --model outputs/deeploc_learning/model [--output OUTPUT]

1. An annotation reference (`protst_hf.annotation.build_reference`) of the proteins of partitions 0-2 with their
   DeepLoc classes as a single-label field `subcellular_location` (the built-in label set's prompts), the fusion
   fitted on partition 3 (DeepLoc's homology partitioning keeps the partitions apart). Partition 4 is not read
   until the table.
2. Partition 4 annotated against it; accuracy (right when the prediction is one of the protein's classes),
   balanced accuracy and macro F1 (a multi-localised protein's true class: the predicted one when it holds it),
   overall and per bin of the best hit's identity, for the fused classes, each evidence alone
   (MMseqs2 DiamondScore transfer, its no-hit proteins given the majority class; k-NN in embedding space;
   zero-shot; the majority class), and the composition and frozen-feature probes trained on partitions 0-3 (the
   DeepLoc benchmark's rows, in this run).
3. `OUTPUT/results.json`, `OUTPUT/table.md`.

DeepLoc's files carry no redistribution licence: they are read from ../shared and nothing built from them is
committed. Without them the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import deeploc_data
from .deeploc_learning import accuracy_of
from .hardware import describe

FIELD = "subcellular_location"


def main() -> int:
    print(describe(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("outputs/deeploc_learning/model"))
    parser.add_argument("--output", type=Path, default=Path("outputs/deeploc_annotation"))
    parser.add_argument("--skip-probes", action="store_true", help="no composition and frozen-feature probes")
    args = parser.parse_args()
    if not deeploc_data.available():
        print("skipped: DeepLoc 2.0 is not in ../shared/data")
        return 0
    from transformers import AutoModel, AutoProcessor

    import protst_hf
    from protst_hf.annotation import BINS, AnnotationReference, build_reference, reference_inputs
    from protst_hf.models.protst.inference_protst import embed_proteins, resolve_precision
    from protst_hf.models.protst.prompts_protst import label_set_prompts

    protst_hf.register()
    model = AutoModel.from_pretrained(args.model).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    dtype = "bfloat16" if resolve_precision("auto", "cpu") == "bfloat16" else None
    splits = deeploc_data.load(held_out=4)
    train, test = splits["train"], splits["test"]
    reference_rows = [r for r in train if r["partition"] <= 2]
    fit_rows = [r for r in train if r["partition"] == 3]
    _names, prompts = label_set_prompts(FIELD)  # in deeploc_data.CLASSES order
    classes = list(deeploc_data.CLASSES)

    def with_classes(rows):
        return [{**r, FIELD: "|".join(classes[i] for i in r["labels"])} for r in rows]

    inputs = reference_inputs(with_classes(reference_rows), with_classes(fit_rows), class_column=FIELD,
                              classes=classes, prompts=prompts)
    if inputs.skipped or inputs.skipped_validation:
        raise SystemExit(f"DeepLoc proteins that are not proteins: {(inputs.skipped + inputs.skipped_validation)[:3]}")
    output = args.output
    if (output / "reference").exists():
        shutil.rmtree(output / "reference")
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_reference(output / "reference", model, processor, inputs.proteins, inputs.fields, inputs.validation,
                    inputs.validation_labels, model_name=str(args.model), dtype=dtype, progress=False)
    results = {"machine": describe(), "reference_proteins": len(inputs.proteins), "fit_proteins": len(fit_rows),
               "test_proteins": len(test), "build_seconds": time.perf_counter() - started}
    reference = AnnotationReference.load(output / "reference")
    labels, fusion, info = reference.field(FIELD)
    started = time.perf_counter()
    lookup = reference.lookup(model, processor, [r["sequence"] for r in test], dtype=dtype, workdir=output)
    evidence, bins = reference.evidence(model, lookup, FIELD)
    fused = fusion.fuse(evidence, bins)
    results["annotate_seconds"] = time.perf_counter() - started
    majority = int(np.argmax(evidence["prior"][0]))
    homology = evidence["homology"].argmax(1)
    homology[bins == 0] = majority  # no hit: the majority class
    predictions = {"fused (protst annotate)": fused.argmax(1),
                   "MMseqs2 transfer (DiamondScore; no hit: majority)": homology,
                   "k-NN in embedding space": evidence["neighbours"].argmax(1),
                   "zero-shot (built-in prompts, prior auto)": evidence["text"].argmax(1),
                   f"majority class ({classes[majority]})": np.full(len(test), majority)}
    if not args.skip_probes:
        sequences = [r["sequence"] for r in train], [r["sequence"] for r in test]
        predictions["composition probe (partitions 0-3)"] = deeploc_data.probe(
            deeploc_data.composition_features(sequences[0]), train, deeploc_data.composition_features(sequences[1]))
        features = [embed_proteins(model, processor, s, project=False, normalize=False, dtype=dtype).numpy()
                    for s in sequences]
        predictions["frozen-feature probe (partitions 0-3)"] = deeploc_data.probe(features[0], train, features[1])
    from protst_hf.annotation.fusion import single_class_truth
    from protst_hf.evaluation.metrics import macro_f1

    truth = np.zeros((len(test), len(classes)), dtype=bool)
    for i, r in enumerate(test):
        truth[i, r["labels"]] = True
    rows = {}
    for name, predicted in predictions.items():
        entry = accuracy_of(list(map(int, predicted)), test)
        entry["macro_f1"] = macro_f1(single_class_truth(truth, predicted), predicted)
        entry["bins"] = {b: accuracy_of(list(map(int, predicted[bins == i])),
                                        [r for r, k in zip(test, bins) if k == i])["accuracy"]
                         for i, b in enumerate(BINS) if (bins == i).any()}
        rows[name] = entry
    results["rows"] = rows
    results["bin_proteins"] = {b: int((bins == i).sum()) for i, b in enumerate(BINS)}
    results["weights"] = info["fusion"]["weights"]
    results["prior_exponent"] = info["fusion"].get("prior_exponent", 0.0)
    results["validation"] = info["fusion"]["report"]
    steps = json.loads((args.model / "training_info.json").read_text()).get("step") \
        if (args.model / "training_info.json").is_file() else None
    results["model"] = f"{args.model} ({steps} pretraining steps)" if steps else str(args.model)
    lines = [f"DeepLoc 2.0 partition 4 ({len(test):,} proteins); reference: partitions 0-2 "
             f"({len(inputs.proteins):,}), "
             f"fusion fitted on partition 3 ({len(fit_rows):,}); model {results['model']}", "",
             "| method | accuracy | balanced accuracy | macro F1 | " + " | ".join(
                 f"accuracy {b} ({results['bin_proteins'][b]:,})" for b in BINS) + " |",
             "|---|---|---|---|" + "---|" * len(BINS)]
    for name, entry in rows.items():
        cells = " | ".join(f"{entry['bins'][b]:.3f}" if b in entry["bins"] else "-" for b in BINS)
        lines.append(f"| {name} | {entry['accuracy']:.3f} | {entry['balanced_accuracy']:.3f} | "
                     f"{entry['macro_f1']:.3f} | {cells} |")
    from protst_hf.annotation import COMPONENTS

    lines += ["", "Fusion weights (fitted on partition 3): " + "; ".join(
        f"{b}: " + ", ".join(f"{c} {w:.1f}" for c, w in zip(COMPONENTS, results["weights"][i]) if w > 0)
        for i, b in enumerate(BINS)) + f"; class-prior correction tau = {results['prior_exponent']:g} (chosen by "
        "macro F1 on partition 3)",
        f"Reference built in {results['build_seconds'] / 60:.1f} min; partition 4 annotated in "
        f"{results['annotate_seconds']:.0f} s."]
    (output / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (output / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
