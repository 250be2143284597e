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

import gzip
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..data.gene_ontology import ROOTS
from ..data.go_evidence import PRESETS, AnnotationFilter, parse_evidence
from ..data.go_labels import ASPECTS, fasta_accession, read_gaf
from ..data.go_obo import read_obo
from ..models.protst.fasta_protst import open_text

NAMESPACES = ("molecular_function", "biological_process", "cellular_component")


def information_accretion(term_sets: Iterable[Iterable[str]], ontology) -> dict[str, float]:
    """IA of every term held by some protein of `term_sets` (each protein's terms; propagated here over is_a and
    part_of): -log2 of the share of the proteins holding all of a term's parents that hold the term. A term whose
    parents are all roots is conditioned on the proteins of its namespace (those holding its root)."""
    propagated = [ontology.propagate(terms, keep_roots=True) for terms in term_sets]
    held = Counter(t for terms in propagated for t in terms)
    ia = {}
    for term, count in held.items():
        if term in ROOTS:
            ia[term] = 0.0
            continue
        parents = set(ontology.parents.get(term, ()))
        if not parents:
            continue  # an orphan: not scored (cafaeval's no_orphans)
        if len(parents) == 1:
            with_parents = held[next(iter(parents))]
        else:
            with_parents = sum(1 for terms in propagated if parents <= terms)
        ia[term] = -math.log2(count / with_parents) if with_parents else 0.0
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


def cafa_scores(predictions: Iterable[tuple[str, str, float]], truth: Mapping[str, set[str]], go_obo: str | Path,
                ia: Mapping[str, float] | str | Path | None = None, th_step: float = 0.01,
                output_dir: str | Path | None = None) -> dict:
    """cafaeval on in-memory predictions and truth (see the module docstring for the settings). Returns, per
    namespace, the proteins scored, Fmax (with its threshold, precision, recall and coverage), weighted Fmax and
    Smin (when IA is given); `output_dir` also receives cafaeval's tables and the precision-recall plot."""
    try:
        from cafaeval.evaluation import cafa_eval, write_results
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("scoring with the CAFA-evaluator needs cafaeval: pip install 'protst-hf[cafa]'") from err

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "predictions").mkdir()
        with open(work / "predictions" / "predictions.tsv", "w") as out:
            out.writelines(f"{p}\t{t}\t{s:.6g}\n" for p, t, s in predictions)
        with open(work / "truth.tsv", "w") as out:
            out.writelines(f"{p}\t{t}\n" for p, terms in truth.items() for t in sorted(terms))
        ia_file = None
        if isinstance(ia, Mapping):
            ia_file = work / "ia.tsv"
            ia_file.write_text("".join(f"{t}\t{v:.6g}\n" for t, v in ia.items()))
        elif ia is not None:
            ia_file = Path(ia)
        df, best = cafa_eval(str(_plain_obo(Path(go_obo), work)), str(work / "predictions"), str(work / "truth.tsv"),
                             ia=str(ia_file) if ia_file else None, no_orphans=True, norm="cafa", prop="max",
                             th_step=th_step, n_cpu=1)
    if df is None:
        raise ValueError("no prediction names a protein and a term of the truth: are they for the same proteins?")
    tables = {metric: table.reset_index() for metric, table in best.items()}

    def at_best(metric, namespace):
        table = tables[metric]
        return table[table["ns"] == namespace].iloc[0]

    result = {}
    for namespace in NAMESPACES:
        if "f" not in tables or namespace not in set(tables["f"]["ns"]):
            continue
        f = at_best("f", namespace)
        entry = {"proteins": int(f["n"] / f["cov"]) if f["cov"] else 0, "fmax": float(f["f"]),
                 "threshold": float(f["tau"]), "precision": float(f["pr"]), "recall": float(f["rc"]),
                 "coverage": float(f["cov"])}
        if "f_w" in tables:
            w, s = at_best("f_w", namespace), at_best("s", namespace)
            entry.update(weighted_fmax=float(w["f_w"]), weighted_threshold=float(w["tau"]), smin=float(s["s"]),
                         smin_threshold=float(s["tau"]))
        result[namespace] = entry
    if output_dir is not None:
        output_dir = Path(output_dir)
        write_results(df, best, out_dir=str(output_dir), th_step=th_step)
        _plot(df, output_dir / "precision_recall.png")
    return result


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


__all__ = ["ASPECTS", "cafa_scores", "evaluate_go_predictions", "information_accretion", "read_predictions",
           "read_truth"]
