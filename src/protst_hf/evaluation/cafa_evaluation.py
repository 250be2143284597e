"""GO predictions scored as CAFA scores them, by the CAFA-evaluator (`cafaeval`, the scorer of CAFA5; Piovesan et
al., Bioinformatics 2024): protein-centric Fmax, information-accretion-weighted Fmax and Smin per namespace, with the
precision-recall curves.

Run as CAFA5 ran it: predictions propagated with `max` over is_a and part_of, precision normalised over the proteins
with a prediction and recall over all proteins of the truth (`norm="cafa"`), thresholds 0.01 to 0.99. Terms without
a parent (the three roots, which every annotated protein has) are left out (`no_orphans`), as this package's
`f1_max` leaves out the roots and information accretion gives them no weight.

Information accretion (Wyatt and Radivojac, Bioinformatics 2013; Clark and Radivojac, Bioinformatics 2013):
IA(v) = -log2 P(v | all parents of v), estimated on a set of annotated proteins (propagated): the proteins that
hold v over those that hold all its parents. `information_accretion` computes it from any annotation sets, e.g. the
reference's (what a predictor could know); CAFA5 published its own file (`--ia IA.txt`).

Example:

```python
>>> result = evaluate_go_predictions("predictions.cafa", truth="test.gaf", go_obo="go-basic.obo", ia="IA.txt")
>>> result["namespaces"]["molecular_function"]["weighted_fmax"]
```
"""

from __future__ import annotations

import copy
import gzip
import math
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..data.gene_ontology import ROOTS
from ..data.go_evidence import PRESETS, AnnotationFilter, parse_evidence
from ..data.go_labels import fasta_accession, read_gaf
from ..data.go_obo import read_obo
from ..models.protst.fasta_protst import open_text

NAMESPACES = ("molecular_function", "biological_process", "cellular_component")


def information_accretion(term_sets: Iterable[Iterable[str]], ontology) -> dict[str, float]:
    """IA of every term held by some protein of `term_sets` (each protein's terms; propagated here over is_a and
    part_of): -log2 of the share of the proteins holding all of a term's parents that hold the term. A term whose
    parents are all roots is conditioned on the proteins of its namespace (those holding its root)."""
    holders: dict[str, set[int]] = {}  # term -> the proteins holding it (propagated)
    for protein, terms in enumerate(term_sets):
        for term in ontology.propagate(terms, keep_roots=True):
            holders.setdefault(term, set()).add(protein)
    ia = {}
    for term, proteins in holders.items():
        if term in ROOTS:
            ia[term] = 0.0
            continue
        parents = sorted((holders.get(p, set()) for p in set(ontology.parents.get(term, ()))), key=len)
        if not parents:
            continue  # an orphan: not scored (cafaeval's no_orphans)
        with_parents = len(parents[0].intersection(*parents[1:]))  # the smallest parent set, cut by the others
        ia[term] = -math.log2(len(proteins) / with_parents) if with_parents else 0.0
    return ia


def read_truth(path: str | Path, ontology, evidence: frozenset[str] | None = PRESETS["experimental"],
               ) -> tuple[dict[str, set[str]], dict]:
    """Each protein's true terms from a GAF (filtered by `evidence`, default CAFA's experimental codes, None for
    every code; NOT rows left out) or a CAFA ground-truth table
    (`protein<TAB>term` per line); ids mapped to primary ids. Returns the sets and the counts of what was kept."""
    path = Path(path)
    truth: dict[str, set[str]] = {}
    keep = AnnotationFilter(ontology, evidence)
    with open_text(path) as lines:
        first = next((line for line in lines if line.strip()), "")
    if first.startswith("!gaf-version"):
        for annotation in read_gaf(path):
            term = keep.term(annotation.object_id, annotation.term, annotation.evidence, annotation.negated)
            if term is not None:
                truth.setdefault(annotation.object_id, set()).add(term)
    else:
        keep = AnnotationFilter(ontology, None)  # a table records no evidence: every row is truth
        with open_text(path) as lines:
            for number, line in enumerate(lines, start=1):
                columns = line.split()
                if not columns or line.startswith(("!", "#")):
                    continue
                if len(columns) < 2 or not columns[1].startswith("GO:"):
                    if number == 1:
                        continue  # a header line
                    raise ValueError(f"{path} line {number}: expected `protein<TAB>GO:nnnnnnn`, got {line.strip()!r}")
                term = keep.term(columns[0], columns[1])
                if term is not None:
                    truth.setdefault(columns[0], set()).add(term)
    if not truth:
        raise ValueError(f"{path} holds no kept GO annotation ({keep.counts.summary()})")
    return truth, keep.counts.to_dict()


def read_predictions(path: str | Path) -> list[tuple[str, str, float]]:
    """`(protein, term, score)` of a `protst annotate` TSV (`id, label_id, name, score, ...`) or a CAFA file
    (`AUTHOR` / `MODEL` / `KEYWORDS` / `END` lines and `protein term score` rows). UniProt FASTA ids
    (`sp|P05067|A4_HUMAN`) are read as their accession, as a GAF names the protein."""
    rows = []
    with open_text(path) as lines:
        header = None
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            columns = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if header is None:
                header = columns
                if columns[:2] == ["id", "label_id"]:
                    continue
            if columns[0] in ("AUTHOR", "MODEL", "KEYWORDS", "END", "ACCURACY"):
                continue
            if header[:2] == ["id", "label_id"]:
                protein, term, score = columns[0], columns[1], columns[3]
            elif len(columns) >= 3:
                protein, term, score = columns[:3]
            else:
                raise ValueError(f"{path} line {number}: expected `protein term score`, got {line.strip()!r}")
            try:
                rows.append((fasta_accession(protein), term, float(score)))
            except ValueError:
                raise ValueError(f"{path} line {number}: the score {score!r} is not a number") from None
    if not rows:
        raise ValueError(f"{path} holds no prediction")
    return rows


def _plain_obo(go_obo: Path, folder: Path) -> Path:
    """cafaeval reads plain OBO only: a gzipped one is written out."""
    with open(go_obo, "rb") as probe:
        if probe.read(2) != b"\x1f\x8b":
            return go_obo
    plain = folder / "go.obo"
    with gzip.open(go_obo, "rb") as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    return plain


def _cafaeval():
    try:
        from cafaeval import evaluation, graph, parser
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("scoring with the CAFA-evaluator needs cafaeval: pip install 'protst-hf[cafa]'") from err
    return evaluation, graph, parser


def _ia_file(ia, folder: Path) -> str | None:
    if isinstance(ia, Mapping):
        path = folder / "ia.tsv"
        path.write_text("".join(f"{t}\t{v:.6g}\n" for t, v in ia.items()))
        return str(path)
    return str(ia) if ia is not None else None


def _summaries(df) -> dict:
    """Per namespace, from cafaeval's table of every threshold (rows with coverage only): Fmax with its threshold,
    precision, recall and coverage; weighted Fmax and Smin where IA was given."""
    table = df[df["cov"] > 0].reset_index()
    result = {}
    for namespace in NAMESPACES:
        rows = table[table["ns"] == namespace]
        if rows.empty:
            continue
        f = rows.loc[rows["f"].idxmax()]
        entry = {"proteins": int(round(f["n"] / f["cov"])), "fmax": float(f["f"]), "threshold": float(f["tau"]),
                 "precision": float(f["pr"]), "recall": float(f["rc"]), "coverage": float(f["cov"])}
        if "f_w" in rows:
            w, s = rows.loc[rows["f_w"].idxmax()], rows.loc[rows["s_w"].idxmin()]
            entry.update(weighted_fmax=float(w["f_w"]), weighted_threshold=float(w["tau"]),
                         smin=float(s["s_w"]), smin_threshold=float(s["tau"]))
        result[namespace] = entry
    return result


def cafa_scores(predictions: Iterable[tuple[str, str, float]], truth: Mapping[str, set[str]], go_obo: str | Path,
                ia: Mapping[str, float] | str | Path | None = None, th_step: float = 0.01,
                output_dir: str | Path | None = None) -> dict:
    """cafaeval's `cafa_eval` on predictions and truth written as its files (see the module docstring for the
    settings). Returns, per namespace, the proteins scored, Fmax (with its threshold, precision, recall and
    coverage), and IA-weighted Fmax and Smin when IA is given; `output_dir` also receives cafaeval's tables and the
    precision-recall plot."""
    evaluation, _, _ = _cafaeval()
    # a protein annotated with a root alone is not scored (cafaeval would count it in recall's denominator)
    truth = {p: set(terms) - ROOTS for p, terms in truth.items() if set(terms) - ROOTS}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "predictions").mkdir()
        with open(work / "predictions" / "predictions.tsv", "w") as out:
            out.writelines(f"{p}\t{t}\t{s:.6g}\n" for p, t, s in predictions)
        with open(work / "truth.tsv", "w") as out:
            out.writelines(f"{p}\t{t}\n" for p, terms in truth.items() for t in sorted(terms))
        df, best = evaluation.cafa_eval(str(_plain_obo(Path(go_obo), work)), str(work / "predictions"),
                                        str(work / "truth.tsv"), ia=_ia_file(ia, work), no_orphans=True,
                                        norm="cafa", prop="max", th_step=th_step, n_cpu=1)
    if df is None:
        raise ValueError("no prediction names a protein and a term of the truth: are they for the same proteins?")
    if output_dir is not None:
        output_dir = Path(output_dir)
        evaluation.write_results(df, best, out_dir=str(output_dir), th_step=th_step)
        _plot(df, output_dir / "precision_recall.png")
    return _summaries(df)


class CafaScorer:
    """cafaeval's scoring of score matrices held in memory, for benchmarks that score many predictors on the same
    truth: the ontology is parsed once, the truth propagated once per namespace, and each matrix goes straight into
    cafaeval's propagation and threshold sweep (no prediction file of millions of lines). The settings and the
    figures are those of [`cafa_scores`] (tested equal)."""

    def __init__(self, go_obo: str | Path, truth: Mapping[str, set[str]],
                 ia: Mapping[str, float] | str | Path | None = None, th_step: float = 0.01, threads: int = 1):
        import numpy as np

        self.threads = threads
        _, graph, parser = _cafaeval()
        self.tau = np.arange(th_step, 1, th_step)
        with tempfile.TemporaryDirectory() as work:
            self.ontologies = parser.obo_parser(str(_plain_obo(Path(go_obo), Path(work))), ("is_a", "part_of"),
                                                _ia_file(ia, Path(work)), False)
        self.truth = {}
        for namespace, ontology in self.ontologies.items():
            rows = {p: [ontology.terms_dict[t]["index"] for t in terms if t in ontology.terms_dict]
                    for p, terms in truth.items()}
            rows = {p: columns for p, columns in rows.items() if columns}
            if not rows:
                continue
            matrix = np.zeros((len(rows), ontology.idxs), dtype=bool)
            for i, columns in enumerate(rows.values()):
                matrix[i, columns] = True
            graph.propagate(matrix, ontology, ontology.order, mode="max")
            scored = matrix[:, ontology.toi].any(axis=1)  # a protein annotated with the root alone is not scored
            ids = [p for p, keep in zip(rows, scored) if keep]
            self.truth[namespace] = graph.GroundTruth({p: i for i, p in enumerate(ids)}, matrix[scored], namespace)

    def __call__(self, scores, proteins, terms, namespace: str) -> dict | None:
        """Scores of `namespace` for a `(proteins, terms)` matrix (a one-row matrix scores every protein alike);
        None when no scored protein is in the truth."""
        import numpy as np

        evaluation, graph, _ = _cafaeval()
        if namespace not in self.truth:
            return None
        ontology, truth = self.ontologies[namespace], self.truth[namespace]
        kept = [(j, ontology.terms_dict[t]["index"]) for j, t in enumerate(terms) if t in ontology.terms_dict]
        rows = [(i, truth.ids[p]) for i, p in enumerate(proteins) if p in truth.ids]
        if not kept or not rows:
            return None
        source, target = map(np.asarray, zip(*kept))
        scores = np.asarray(scores, dtype=np.float64)
        matrix = np.zeros(truth.matrix.shape, dtype=np.float64)
        for i, row in rows:
            matrix[row, target] = scores[0 if len(scores) == 1 else i, source]
        predicted = matrix.any(axis=1)
        if not predicted.any():
            return None
        graph.propagate(matrix, ontology, ontology.order, mode="max")
        # terms no protein is predicted (at cafaeval's lowest threshold) or annotated with add 0 to every count of
        # every threshold: the sweep runs over the others only (the same figures, a fraction of the work)
        active = (matrix >= self.tau[0]).any(axis=0) | truth.matrix.any(axis=0)
        scoped = copy.copy(ontology)
        scoped.toi = ontology.toi[active[ontology.toi]]
        if ontology.toi_ia is not None:
            scoped.toi_ia = ontology.toi_ia[active[ontology.toi_ia]]
        # cafaeval scores the proteins that have a prediction (its parser keeps only those rows' ids)
        prediction = graph.Prediction({p: i for p, i in truth.ids.items() if predicted[i]}, matrix, namespace)
        df = evaluation.evaluate_prediction({namespace: prediction}, self.truth, {namespace: scoped}, self.tau,
                                            normalization="cafa", n_cpu=self.threads)
        return _summaries(df.set_index(["ns", "tau"])).get(namespace)


def _plot(df, path: Path) -> None:
    """Precision-recall curves, one per namespace, Fmax marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    for namespace, curve in df.reset_index().groupby("ns"):
        best = curve.loc[curve["f"].idxmax()]
        axis.plot(curve["rc"], curve["pr"], label=f"{namespace} (Fmax {best['f']:.3f})")
        axis.scatter([best["rc"]], [best["pr"]], s=20)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def evaluate_go_predictions(predictions: str | Path, truth: str | Path, go_obo: str | Path,
                            ia: str | Path | None = None, ia_from: Iterable[Iterable[str]] | None = None,
                            evidence: str | None = "experimental", output_dir: str | Path | None = None) -> dict:
    """Score a `protst annotate` TSV or CAFA file against the truth (a GAF, filtered by `evidence`, or a CAFA
    ground-truth table) with cafaeval. IA comes from `ia` (a file: term, value), or is computed from `ia_from`
    (annotation sets, e.g. the reference's), or from the truth itself (stated in the result's `ia` entry).

    Returns:
        `{"namespaces": {namespace: scores}, "truth": counts, "ia": source, "predictions": rows read}`
    """
    ontology = read_obo(go_obo)
    true_sets, counts = read_truth(truth, ontology, parse_evidence(evidence))
    rows = read_predictions(predictions)
    if ia is not None:
        ia_values, source = Path(ia), f"file {ia}"
    elif ia_from is not None:
        ia_values, source = information_accretion(ia_from, ontology), "computed from the reference's annotations"
    else:
        ia_values, source = information_accretion(true_sets.values(), ontology), \
            "computed from the truth's annotations (no --ia, no --reference)"
    scores = cafa_scores(rows, true_sets, go_obo, ia_values, output_dir=output_dir)
    return {"namespaces": scores, "truth": {"proteins": len(true_sets), **counts}, "ia": source,
            "predictions": len(rows), "ontology_version": ontology.version}


__all__ = ["CafaScorer", "cafa_scores", "evaluate_go_predictions", "information_accretion",
           "read_predictions", "read_truth"]
