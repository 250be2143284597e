"""Reading GO from the files biologists download, against the TSV tables, at the shared corpus's full size (40,415
terms, 120,000 proteins, 1,028,013 annotations), and the OBO parser against obonet.

    python -m benchmarks.bench_go_files [--go-files DIR]   # DIR: go_corpus_to_obo_gaf's output (written if absent)

Prints the seconds of each route and their ratio, and checks that the routes give the same ontology and the same
labels (the timing of a route that disagrees would mean nothing). A reference build from OBO + GAF pays the
difference once, beside minutes of embedding and cross-fitting.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from .go_corpus_to_obo_gaf import CORPUS, write_gaf_and_fasta, write_obo
from .hardware import describe


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main(argv=None) -> int:
    from protst_hf.data.gene_ontology import GeneOntology, GOReadReport, go_rows
    from protst_hf.data.go_labels import go_rows_from_gaf
    from protst_hf.data.go_obo import read_obo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--go-files", type=Path, help="go.obo, annotations.gaf.gz and proteins.fa.gz")
    args = parser.parse_args(argv)
    if not (CORPUS / "go_terms.tsv.gz").is_file():
        print(f"skipped: {CORPUS} is absent")
        return 0
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory() as work:
        files = args.go_files or Path(work)
        if not (files / "go.obo").is_file():
            write_obo(CORPUS / "go_terms.tsv.gz", CORPUS / "go_graph.tsv.gz", files / "go.obo", "swissprot_go_2014")
            write_gaf_and_fasta(CORPUS / "swissprot_go_2014.tsv.gz", files / "annotations.gaf.gz",
                                files / "proteins.fa.gz")
        tables, tables_s = _timed(GeneOntology.from_files, CORPUS / "go_terms.tsv.gz", CORPUS / "go_graph.tsv.gz")
        obo, obo_s = _timed(read_obo, files / "go.obo")
        assert (obo.names, obo.namespaces, obo.parents) == (tables.names, tables.namespaces, tables.parents)
        print(f"ontology: TSV tables {tables_s:.2f} s, OBO (fastobo) {obo_s:.2f} s, ratio {obo_s / tables_s:.1f}")
        try:
            import obonet
        except ImportError:
            print("obonet: not installed (pip install obonet), not compared")
        else:
            _, obonet_s = _timed(obonet.read_obo, str(files / "go.obo"))
            print(f"OBO parse: fastobo (read_obo, graph included) {obo_s:.2f} s, obonet.read_obo {obonet_s:.2f} s, "
                  f"ratio {obonet_s / obo_s:.2f}")
        rows, rows_s = _timed(lambda: list(go_rows(CORPUS / "swissprot_go_2014.tsv.gz", tables, GOReadReport())))
        (labelled, _), gaf_s = _timed(go_rows_from_gaf, files / "proteins.fa.gz", files / "annotations.gaf.gz", obo,
                                      None)
        assert [(r["accession"], r["sequence"], sorted(r["go_terms"])) for r in rows] == \
            [(r["accession"], r["sequence"], sorted(r["go_terms"])) for r in labelled]
        print(f"labels of {len(rows):,} proteins: TSV table {rows_s:.1f} s, FASTA + GAF {gaf_s:.1f} s, ratio "
              f"{gaf_s / rows_s:.2f}")
        print(f"ontology + labels: TSV {tables_s + rows_s:.1f} s, OBO + GAF {obo_s + gaf_s:.1f} s (+"
              f"{obo_s + gaf_s - tables_s - rows_s:.1f} s per reference build)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
