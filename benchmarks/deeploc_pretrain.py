"""Pretraining on real protein-text pairs: DeepLoc 2.0 Swiss-Prot proteins with their Swiss-Prot location keywords.

    python benchmarks/deeploc_pretrain.py [--output outputs/deeploc] [--max_steps 600] [-- extra pretraining args]

Reads `../shared/data/deeploc2_swissprot` (about 21.8k proteins; DeepLoc's homology partitions) and
`../shared/data/swissprot_subcellular_keywords` (the proteins' Swiss-Prot location keywords). These files carry no
redistribution licence: they are read in place, the pairs are written under the output folder (git-ignored), and
the script exits cleanly when they are absent. Each protein's text is `SUBCELLULAR LOCATION: <its location
keywords>.`; DeepLoc partitions 0-3 train, partition 4 (first 1,000 proteins) validates, so validation proteins
are homology-separated from training ones. Then the `tiny` preset trains on CPU and validation Recall@K is
reported beside its chance level.
"""

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def write_pairs(output: Path, validation_size: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    keywords = defaultdict(set)
    with open(DATA / "swissprot_subcellular_keywords" / "swissprot2020_subloc_keywords.csv") as f:
        for row in csv.DictReader(f):
            keywords[row["accession"]].add(row["location"])
    splits = {"train": [], "validation": []}
    with open(DATA / "deeploc2_swissprot" / "deeploc2_swissprot_filtered.csv") as f:
        for row in csv.DictReader(f):
            locations = sorted(keywords.get(row["accession"], set())) or row["label"].split("|")
            text = "SUBCELLULAR LOCATION: " + ". ".join(locations) + "."
            split = "validation" if row["partition"] == "4" else "train"
            splits[split].append({"accession": row["accession"], "sequence": row["sequence"], "subloc": text})
    splits["validation"] = splits["validation"][:validation_size]
    (output / "data").mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), output / "data" / f"{name}-00000-of-00001.parquet")
    (output / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n"
        "  - split: validation\n    path: data/validation-*.parquet\n---\n"
        "DeepLoc 2.0 proteins with Swiss-Prot location keywords (internal benchmark data, not for redistribution).\n"
    )
    return {name: len(rows) for name, rows in splits.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/deeploc")
    parser.add_argument("--max_steps", type=int, default=600)
    parser.add_argument("--eval_steps", type=int, default=100)
    parser.add_argument("--validation_size", type=int, default=1000)
    args, extra = parser.parse_known_args()
    if not (DATA / "deeploc2_swissprot").is_dir():
        print(f"skipped: {DATA / 'deeploc2_swissprot'} is not present")
        return 0
    output = Path(args.output)
    counts = write_pairs(output / "pairs", args.validation_size)
    print(f"pairs: {counts}")
    command = [sys.executable, str(ROOT / "examples" / "pretrain" / "run_pretrain.py"), "--preset", "tiny",
               "--dataset", str(output / "pairs"), "--output_dir", str(output / "run"), "--max_steps",
               str(args.max_steps), "--eval_steps", str(args.eval_steps), "--save_steps", str(args.eval_steps),
               "--resume_from_checkpoint", "latest", *extra]
    completed = subprocess.run(command)
    if completed.returncode:
        return completed.returncode
    records = [json.loads(line) for line in open(output / "run" / "log.jsonl") if "eval/mean_recall" in line]
    print(f"\n{'step':>6} {'p->t R@1':>9} {'p->t R@10':>10} {'(chance)':>9} {'t->p R@10':>10} {'(chance)':>9} "
          f"{'t->p rank':>10} {'MLM acc':>8}")
    for r in records:
        print(f"{r['step']:>6} {r['eval/protein_to_text_recall@1']:>9.3f} "
              f"{r['eval/protein_to_text_recall@10']:>10.3f} "
              f"{r['eval/protein_to_text_recall@10_chance']:>9.3f} {r['eval/text_to_protein_recall@10']:>10.3f} "
              f"{r['eval/text_to_protein_recall@10_chance']:>9.3f} {r['eval/text_to_protein_mean_rank']:>10.1f} "
              f"{r['eval/mlm_accuracy']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
