"""Writes tests/fixtures/go/: 300 proteins of ../shared/data/swissprot_go_2014 (UniProt and GO, CC BY 4.0; see
SOURCE.md there) with the GO terms and graph edges above their annotations. Run from the repository root:

    python tests/utils/make_go_fixture.py
"""

import csv
import gzip
import random
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "swissprot_go_2014"
TARGET = Path(__file__).resolve().parents[1] / "fixtures" / "go"


def main(proteins: int = 300, seed: int = 0) -> None:
    with gzip.open(SOURCE / "swissprot_go_2014.tsv.gz", "rt") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    random.Random(seed).shuffle(rows)
    picked = sorted(rows[:proteins], key=lambda r: r["accession"])
    with gzip.open(SOURCE / "go_graph.tsv.gz", "rt") as f:
        edges = list(csv.DictReader(f, delimiter="\t"))
    parents = {}
    for edge in edges:
        parents.setdefault(edge["child"], []).append(edge)
    needed = {t for r in picked for c in ("go_mf", "go_bp", "go_cc") for t in r[c].split(";") if t}
    stack, kept_edges = list(needed), []
    while stack:
        for edge in parents.get(stack.pop(), []):
            if edge["relation"] in ("is_a", "part_of"):
                kept_edges.append(edge)
                if edge["parent"] not in needed:
                    needed.add(edge["parent"])
                    stack.append(edge["parent"])
    with gzip.open(SOURCE / "go_terms.tsv.gz", "rt") as f:
        terms = [t for t in csv.DictReader(f, delimiter="\t") if t["go_id"] in needed]
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, header, items in (("annotations.tsv", ["accession", "sequence", "go_mf", "go_bp", "go_cc"], picked),
                                ("go_terms.tsv", ["go_id", "name", "namespace"], terms),
                                ("go_graph.tsv", ["child", "parent", "relation"],
                                 sorted(kept_edges, key=lambda e: (e["child"], e["parent"])))):
        with open(TARGET / name, "w", newline="") as f:
            writer = csv.DictWriter(f, header, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(items)
    (TARGET / "SOURCE.md").write_text(
        "# GO sample\n\n300 proteins drawn at random (seed 0) from `swissprot_go_2014` (Swiss-Prot 2014_01 with GO "
        "annotations, from Debian's `metastudent-data`; annotations UniProt's and GO's, CC BY 4.0), with the GO terms "
        "and the is_a / part_of edges above their annotations. Written by `tests/utils/make_go_fixture.py`.\n")


if __name__ == "__main__":
    main()
