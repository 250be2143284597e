"""Write the shared GO corpus (`../shared/data/swissprot_go_2014`: TSV tables) in the formats biologists download:
an OBO file of the ontology, a GAF 2.2 file of the annotations and a FASTA file of the sequences.

The corpus records no evidence codes (its annotations are "as stored by the package: all evidence codes"), so
every GAF row is written with one experimental code, EXP, and the default evidence filter keeps them all: the
point is a full-size check that the OBO + GAF route gives the labels of the TSV route, not a statement about the
corpus's evidence. Terms without a namespace in the terms table (about 1,800, unreachable from a root) are written
without a `namespace:` line, so both routes read them the same.

    python -m benchmarks.go_corpus_to_obo_gaf --output /tmp/go2014        # go.obo, annotations.gaf.gz, proteins.fa.gz
    python -m benchmarks.go_corpus_to_obo_gaf --output DIR --only-ancestors-of tests/fixtures/uniprot/*.dat

With `--only-ancestors-of FILES`, only the OBO is written, holding the terms annotated in those UniProt files and
their ancestors (how `tests/fixtures/go/go-2014-uniprot-sample.obo` was made).
"""

from __future__ import annotations

import argparse
import csv
import gzip
from collections import defaultdict
from pathlib import Path

from protst_hf.models.protst.fasta_protst import open_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "swissprot_go_2014"
COLUMNS = {"go_mf": ("F", "enables"), "go_bp": ("P", "involved_in"), "go_cc": ("C", "located_in")}


def _table(path: Path):
    with open_text(path) as handle:  # plain or gzipped
        yield from csv.DictReader(handle, delimiter="\t")


def obo_escape(text: str) -> str:
    """An unquoted OBO value: `\\`, `{` (a trailing qualifier's start) and `!` (a comment's) escaped."""
    return text.replace("\\", "\\\\").replace("{", "\\{").replace("!", "\\!")


def write_obo(terms: Path, graph: Path, output: Path, data_version: str, keep: set[str] | None = None) -> int:
    """The terms table and graph as OBO 1.2 stanzas (is_a lines, other relations as `relationship:` lines, one
    [Typedef] per relation); returns the number of terms written."""
    names = {r["go_id"]: (r["name"] or "", r["namespace"] or "") for r in _table(terms) if r["go_id"]}
    edges: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in _table(graph):
        edges[row["child"]].append((row["relation"], row["parent"]))
    if keep is not None:
        wanted, stack = set(), [t for t in keep if t in names or t in edges]
        while stack:
            term = stack.pop()
            if term not in wanted:
                wanted.add(term)
                stack.extend(p for _, p in edges.get(term, ()))
        names = {t: v for t, v in names.items() if t in wanted}
    relations = sorted({r for parents in edges.values() for r, _ in parents} - {"is_a"})
    with open(output, "w") as out:
        out.write(f"format-version: 1.2\ndata-version: {data_version}\nontology: go\n\n")
        for term in sorted(names):
            name, namespace = names[term]
            out.write(f"[Term]\nid: {term}\nname: {obo_escape(name)}\n"
                      + (f"namespace: {namespace}\n" if namespace else ""))
            for relation, parent in sorted(edges.get(term, ())):
                if keep is not None and parent not in names:
                    continue
                comment = f" ! {obo_escape(names[parent][0])}" if parent in names else ""
                out.write(f"is_a: {parent}{comment}\n" if relation == "is_a"
                          else f"relationship: {relation} {parent}{comment}\n")
            out.write("\n")
        for relation in relations:
            out.write(f"[Typedef]\nid: {relation}\nname: {relation.replace('_', ' ')}\n\n")
    return len(names)


def write_gaf_and_fasta(annotations: Path, gaf: Path, fasta: Path, evidence: str = "EXP") -> tuple[int, int]:
    """Every (protein, term) of the annotation table as a GAF 2.2 line with `evidence`, and the sequences as FASTA
    (UniProt-style `sp|ACC|ACC` headers); returns (proteins, annotation lines)."""
    proteins = lines = 0
    with gzip.open(gaf, "wt") as out, gzip.open(fasta, "wt") as sequences:
        out.write("!gaf-version: 2.2\n!generated-by: protst-hf benchmarks/go_corpus_to_obo_gaf.py\n"
                  f"!evidence: every annotation written as {evidence} (the corpus records none)\n")
        for row in _table(annotations):
            accession = row["accession"]
            proteins += 1
            sequences.write(f">sp|{accession}|{accession}\n{row['sequence']}\n")
            for column, (aspect, qualifier) in COLUMNS.items():
                for term in (t.strip() for t in (row[column] or "").split(";")):
                    if term:
                        out.write(f"UniProtKB\t{accession}\t{accession}\t{qualifier}\t{term}\t"
                                  f"GO_REF:0000000\t{evidence}\t\t{aspect}\t\t\tprotein\ttaxon:1\t20140101\t"
                                  "UniProt\t\t\n")
                        lines += 1
    return proteins, lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--only-ancestors-of", nargs="+", type=Path, metavar="UNIPROT_FILE")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.only_ancestors_of:
        from protst_hf.data.uniprot import iter_uniprot

        terms = {t.split(":", 1)[1] for path in args.only_ancestors_of for record in iter_uniprot(path)
                 for t in record.go_terms}
        count = write_obo(CORPUS / "go_terms.tsv.gz", CORPUS / "go_graph.tsv.gz",
                          args.output / "go-2014-uniprot-sample.obo", "swissprot_go_2014-sample", keep=terms)
        print(f"{count} terms (the {len(terms)} annotated and their ancestors) -> "
              f"{args.output / 'go-2014-uniprot-sample.obo'}")
        return
    count = write_obo(CORPUS / "go_terms.tsv.gz", CORPUS / "go_graph.tsv.gz", args.output / "go.obo",
                      "swissprot_go_2014")
    proteins, lines = write_gaf_and_fasta(CORPUS / "swissprot_go_2014.tsv.gz", args.output / "annotations.gaf.gz",
                                          args.output / "proteins.fa.gz")
    print(f"{count:,} terms -> go.obo; {proteins:,} proteins -> proteins.fa.gz; {lines:,} annotations -> "
          "annotations.gaf.gz")


if __name__ == "__main__":
    main()
