"""The label-text cache: `protst classify` over every biological-process term of GO (about 25,000 labels), run
twice with a fresh cache folder, beside the same command with the cache off, in one run.

    python -m benchmarks.studies.label_cache --model outputs/go_learning/model [--proteins 100] [--output DIR]

Each run is a separate `protst classify --multi-label --field biological_process` process over the same proteins
(the first `--proteins` of the shipped Swiss-Prot sample), so the second one starts cold except for the cache
folder (`PROTST_TEXT_CACHE`). The outputs of the three runs must be identical. Prints the wall time of each and
the ratio of the first to the second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import go_learning
from ..hardware import describe


def main() -> int:
    print(describe(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--proteins", type=int, default=100)
    parser.add_argument("--output", type=Path, default=Path("outputs/label_cache"))
    args = parser.parse_args()
    if not go_learning.available():
        print(f"skipped: {go_learning.DATA} is absent")
        return 0
    from protst_hf.data.splits import write_fasta
    from protst_hf.data.uniprot import iter_uniprot
    from protst_hf.resources import UNIPROT_SAMPLE

    args.output.mkdir(parents=True, exist_ok=True)
    go = go_learning.ontology()
    labels = sorted((term, name) for term, name in go.names.items()
                    if name and go.namespaces.get(term) == "biological_process")
    (args.output / "labels.tsv").write_text("id\tname\n" + "".join(f"{i}\t{n}\n" for i, n in labels))
    proteins = []
    for record in iter_uniprot(UNIPROT_SAMPLE):
        proteins.append((record.accessions[0], record.sequence))
        if len(proteins) == args.proteins:
            break
    write_fasta(args.output / "proteins.fasta", proteins)
    command = [sys.executable, "-m", "protst_hf.cli", "classify", str(args.output / "proteins.fasta"), "--model",
               args.model, "--labels-file", str(args.output / "labels.tsv"), "--field", "biological_process",
               "--multi-label", "--top-k", "20", "--quiet", "--output"]
    results = {"labels": len(labels), "proteins": len(proteins), "machine": describe()}
    with tempfile.TemporaryDirectory() as cache:
        for name, setting in (("cache off", "off"), ("first run, empty cache", cache),
                              ("second run, same labels", cache)):
            out = args.output / f"{name.split(',')[0].replace(' ', '_')}.tsv"
            started = time.perf_counter()
            done = subprocess.run(command + [str(out)], env={**os.environ, "PROTST_TEXT_CACHE": setting},
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            results[name] = {"seconds": time.perf_counter() - started, "output": out.read_text()}
            print(f"{name}: {results[name]['seconds']:.1f} s", flush=True)
    outputs = {results[k]["output"] for k in ("cache off", "first run, empty cache", "second run, same labels")}
    results["identical_outputs"] = len(outputs) == 1
    results["ratio_first_to_second"] = results["first run, empty cache"]["seconds"] / \
        results["second run, same labels"]["seconds"]
    for key in ("cache off", "first run, empty cache", "second run, same labels"):
        results[key].pop("output")
    print(f"{len(labels):,} labels x {len(proteins)} proteins: second run {results['ratio_first_to_second']:.1f}x "
          f"faster than the first; outputs identical: {results['identical_outputs']}")
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
