"""Fusing the evidence: one convex combination of the five scores per bin of the best hit's identity, fitted on a
validation split or on reference proteins cross-fitted over their clusters (see `build.py`).

    S(q, l) = w_b[homology] H(q, l) + w_b[best_hit] B(q, l) + w_b[neighbours] K(q, l) + w_b[text] Z(q, l)
              + w_b[prior] N(l)

where b is the bin of q's best MMseqs2 hit: no hit, under 30%, 30-50%, 50% or more identity. This is DeepGOPlus's blend
(S = a S_homology + (1 - a) S_model, Kulmanov & Hoehndorf 2020) with the weight of each evidence depending on how close
the nearest homolog is, as InterLabelGO+ lets the learned score's weight decay with the hits' identity, and with
TALE+'s rule built in: where no hit exists, the two homology evidences get no weight. Homology enters twice:
DiamondScore H (bit-score-weighted votes of all hits, normalised, so a lone distant hit scores 1) and the best hit's
labels scored by its identity B (CAFA's BLAST baseline), which keeps how close that hit is; on MMseqs2 hits alone a
per-bin mix of the two with the prior beats DiamondScore in every hit bin (benchmarks/studies/go_homology_evidence.py).
The weights of each bin are chosen on the fitting proteins of that bin from a grid over the simplex (step 0.2, then
refined by steps of 0.1 around the best point), maximising Fmax (multi-label fields) or accuracy (single-label fields);
a bin with fewer than `min_proteins` fitting proteins takes the weights fitted on all of them. Every single evidence is
a corner of the simplex, so on the fitting proteins the fusion is never worse than either homology evidence alone in
any bin. A reference fitted before `best_hit` existed loads with weight 0 on it and fuses as it did.

Single-label fields (one class per protein, e.g. subcellular location) then correct the fused distribution for the
reference's class frequencies: p'(c) is proportional to p(c) / prior(c)^tau (the logit adjustment of Menon et al.,
"Long-tail learning via logit adjustment", ICLR 2021), renormalised. Every evidence transfers the reference's class
balance, so without it the rare compartments are seldom predicted; tau is chosen from (0, 0.25, 0.5, 0.75, 1) on the
fitting proteins by macro F1, the mean over classes that DeepLoc 2.0 (Thumuluri et al. 2022) reports for its
unbalanced classes, and tau = 0 (`prior_correction=False`) keeps the accuracy-fitted distribution.

A convex combination of scores consistent with the ontology is consistent (no term scores above an ancestor):
homology, neighbours and the prior transfer propagated label sets, and the zero-shot scores are made consistent by
`ontology_consistent` before they are fused.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evaluation.metrics import f1_max, macro_f1

COMPONENTS = ("homology", "best_hit", "neighbours", "text", "prior")
NEEDS_A_HIT = ("homology", "best_hit")  # weight 0 in the no-hit bin
BINS = ("no hit", "< 30%", "30-50%", ">= 50%")
BIN_EDGES = (0.3, 0.5)
PRIOR_EXPONENTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def identity_bins(best_identity: np.ndarray) -> np.ndarray:
    """(queries,) bin index of each query's best-hit identity (NaN: no hit -> 0; then < 30%, 30-50%, >= 50%)."""
    best_identity = np.asarray(best_identity, dtype=np.float64)
    bins = 1 + np.searchsorted(np.asarray(BIN_EDGES), np.nan_to_num(best_identity, nan=0.0), side="right")
    return np.where(np.isnan(best_identity), 0, bins).astype(np.int64)


def simplex_grid(dimensions: int, step: float) -> np.ndarray:
    """Every point of the simplex of `dimensions` weights summing to 1 on a grid of `step`."""
    parts = round(1 / step)
    points = [c for c in itertools.product(range(parts + 1), repeat=dimensions) if sum(c) == parts]
    return np.asarray(points, dtype=np.float64) / parts


def ontology_consistent(scores: np.ndarray, parents: Sequence[Sequence[int]]) -> np.ndarray:
    """Scores raised so that no label scores above any of its ancestors: each label's score becomes the maximum
    over itself and its descendants (in place, and returned).

    Args:
        scores: (queries, labels).
        parents: the parents of each label, as label indices (labels outside the table left out).
    """
    order = topological_order(parents)
    for label in order:  # children before parents
        for parent in parents[label]:
            np.maximum(scores[:, parent], scores[:, label], out=scores[:, parent])
    return scores


def topological_order(parents: Sequence[Sequence[int]]) -> list[int]:
    """Label indices with every label before its parents (Kahn's algorithm); a cycle is an error."""
    waiting = np.zeros(len(parents), dtype=np.int64)  # children not yet placed
    for label_parents in parents:
        for parent in label_parents:
            waiting[parent] += 1
    ready = [label for label in range(len(parents)) if waiting[label] == 0]
    order = []
    while ready:
        label = ready.pop()
        order.append(label)
        for parent in parents[label]:
            waiting[parent] -= 1
            if waiting[parent] == 0:
                ready.append(parent)
    if len(order) != len(parents):
        raise ValueError("the label graph has a cycle")
    return order


def objective(truth: np.ndarray, scores: np.ndarray, single_label: bool) -> float:
    """What the fit maximises: Fmax (multi-label), or accuracy with a prediction right when it is one of the
    protein's labels (single-label)."""
    if single_label:
        return float(truth[np.arange(len(truth)), scores.argmax(1)].mean()) if len(truth) else 0.0
    return f1_max(truth, scores)


def single_class_truth(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(proteins,) one true class per protein for per-class measures: the `predicted` class id when it is one of the
    protein's classes (multi-localised proteins), else its first class."""
    predicted = np.asarray(predicted, dtype=np.int64)
    return np.where(truth[np.arange(len(truth)), predicted], predicted, truth.argmax(1))


def prior_corrected(scores: np.ndarray, prior: np.ndarray, exponent: float) -> np.ndarray:
    """Class distributions divided by `prior ** exponent` and renormalised (rows without mass stay 0). Classes the
    reference never holds take the rarest held class's correction."""
    prior = np.asarray(prior, dtype=np.float64).reshape(-1)
    floor = prior[prior > 0].min() if np.any(prior > 0) else 1.0
    out = scores * np.maximum(prior, floor).astype(np.float32) ** np.float32(-exponent)
    total = out.sum(1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


@dataclass
class Fusion:
    """Fitted fusion weights of one field.

    Attributes:
        weights: (bins, components) convex weights, in `BINS` x `COMPONENTS` order.
        report: per bin, the fitting proteins, each evidence's and the fusion's objective (JSON-ready).
        prior_exponent: single-label fields: the class-prior correction's tau (0: none).
        single_label: fused rows are class distributions: renormalised after the blend (`best_hit` carries its
            identity as its mass, so a blend with it sums to less than 1; the argmax is unchanged).
    """

    weights: np.ndarray
    report: dict = field(default_factory=dict)
    prior_exponent: float = 0.0
    single_label: bool = False

    def blend(self, evidence: Mapping[str, np.ndarray], bins: np.ndarray) -> np.ndarray:
        """(queries, labels) float32 weighted sums of the evidence, clipped to [0, 1], before any prior correction.
        An evidence may be left out of `evidence` only where it weighs 0 in every bin of `bins`."""
        shape = (len(bins), np.broadcast_shapes(*(v.shape for v in evidence.values()))[1])
        out = np.zeros(shape, dtype=np.float32)
        for c, name in enumerate(COMPONENTS):
            weight = self.weights[bins, c].astype(np.float32)[:, None]
            if np.any(weight):
                if name not in evidence:
                    raise ValueError(f"the fusion weighs the {name!r} evidence, which was not given")
                out += weight * np.broadcast_to(evidence[name], shape)
        return np.clip(out, 0.0, 1.0)

    def fuse(self, evidence: Mapping[str, np.ndarray], bins: np.ndarray) -> np.ndarray:
        """(queries, labels) float32 fused scores; `evidence` maps each of `COMPONENTS` to a (queries, labels)
        matrix (`prior` may be one row, broadcast). Single-label fields: class distributions, prior-corrected by
        `prior_exponent`."""
        out = self.blend(evidence, bins)
        return prior_corrected(out, evidence["prior"], self.prior_exponent) if self._distributions else out

    @property
    def _distributions(self) -> bool:
        return self.single_label or bool(self.prior_exponent)

    def contributions(self, evidence: Mapping[str, np.ndarray], bins: np.ndarray, query: int,
                      labels: np.ndarray) -> dict[str, np.ndarray]:
        """What each evidence adds to the fused scores of one query's `labels` (weight x score, one array per
        evidence with a weight above 0 in the query's bin; single-label fields: scaled as the label's score was by
        the renormalisation and prior correction, so the shares still sum to the fused score)."""
        def row(matrix: np.ndarray) -> np.ndarray:
            return matrix[0 if matrix.shape[0] == 1 else query]

        scale = 1.0
        if self._distributions:
            one = {name: row(value)[None, :] for name, value in evidence.items()}
            blended = self.blend(one, bins[query:query + 1])
            corrected = prior_corrected(blended, evidence["prior"], self.prior_exponent)[0, labels]
            scale = np.divide(corrected, blended[0, labels], out=np.zeros(len(labels), dtype=np.float32),
                              where=blended[0, labels] > 0)
        out = {}
        for c, name in enumerate(COMPONENTS):
            weight = self.weights[bins[query], c]
            if weight > 0:
                out[name] = weight * row(evidence[name])[labels] * scale
        return out

    def to_dict(self) -> dict:
        return {"components": list(COMPONENTS), "bins": list(BINS), "weights": self.weights.round(6).tolist(),
                "prior_exponent": self.prior_exponent, "single_label": self.single_label, "report": self.report}

    @classmethod
    def from_dict(cls, data: Mapping) -> Fusion:
        """Weights over any subset of `COMPONENTS` (a reference fitted by an earlier version, before `best_hit`):
        the missing evidences weigh 0."""
        components = list(data.get("components", []))
        if not components or set(components) - set(COMPONENTS) or len(set(components)) != len(components) \
                or list(data.get("bins", [])) != list(BINS):
            raise ValueError(f"fusion weights over {data.get('components')} x {data.get('bins')}; this version "
                             f"reads {list(COMPONENTS)} (or a subset) x {list(BINS)}")
        stored = np.asarray(data["weights"], dtype=np.float64)
        if stored.shape != (len(BINS), len(components)):
            raise ValueError(f"fusion weights of shape {stored.shape}, expected {(len(BINS), len(components))}")
        weights = np.zeros((len(BINS), len(COMPONENTS)))
        weights[:, [COMPONENTS.index(c) for c in components]] = stored
        return cls(weights, dict(data.get("report", {})), float(data.get("prior_exponent", 0.0)),
                   bool(data.get("single_label", False)))


def fit_fusion(evidence: Mapping[str, np.ndarray], bins: np.ndarray, truth: np.ndarray, single_label: bool = False,
               min_proteins: int = 30, prior_correction: bool = True) -> Fusion:
    """Fusion weights per identity bin, chosen on fitting proteins (see the module docstring).

    Args:
        evidence: each of `COMPONENTS` -> (proteins, labels) scores of the fitting proteins (`prior` may be one row);
            an evidence left out weighs 0 (e.g. homology scores alone, without a model).
        bins: (proteins,) [`identity_bins`] of their best hits.
        truth: (proteins, labels) boolean labels; proteins without any are left out.
        single_label: maximise accuracy instead of Fmax.
        min_proteins: a bin with fewer fitting proteins takes the weights fitted on all of them.
        prior_correction: single-label fields: choose the class-prior correction's exponent by macro F1 (False:
            none).
    """
    labelled = truth.any(1)
    shape = truth.shape

    def search(rows: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, float]:
        parts = {name: np.broadcast_to(evidence[name], shape)[rows] for name in given}
        target, same_bin = truth[rows], np.zeros(len(rows), dtype=np.int64)
        tried: dict[tuple, float] = {}

        def value(point: np.ndarray) -> float:
            key = tuple(np.round(point, 6))
            if key not in tried:  # the scores the fusion will give (its float32 blend), before any prior correction
                scores = Fusion(np.tile(point, (len(BINS), 1))).blend(parts, same_bin)
                tried[key] = objective(target, scores, single_label)
            return tried[key]

        coarse = [p for p in simplex_grid(len(COMPONENTS), 0.2) if not np.any(p[~allowed])]
        best = max(coarse, key=value)
        for _ in range(3):  # steps of 0.1 from the best point, moving weight between two evidences
            moves = [best + 0.1 * (np.eye(len(COMPONENTS))[i] - np.eye(len(COMPONENTS))[j])
                     for i in range(len(COMPONENTS)) for j in range(len(COMPONENTS)) if i != j]
            moves = [m for m in moves if m.min() > -1e-9 and not np.any(m[~allowed] > 1e-9)]
            candidate = max(moves, key=value, default=best)
            if value(candidate) <= value(best):
                break
            best = candidate
        return np.clip(best, 0.0, 1.0), value(best)

    unknown = set(evidence) - set(COMPONENTS)
    if unknown or not evidence:
        raise ValueError(f"evidence {sorted(unknown) or 'none'}: the fusion takes {list(COMPONENTS)}")
    given = [name for name in COMPONENTS if name in evidence]
    everything = np.flatnonzero(labelled)
    all_allowed = np.array([name in evidence for name in COMPONENTS])
    overall, overall_value = search(everything, all_allowed)
    weights = np.tile(overall, (len(BINS), 1))
    report = {"all": {"proteins": int(len(everything)), "fused": overall_value}}
    for b, name in enumerate(BINS):
        rows = np.flatnonzero(labelled & (bins == b))
        allowed = all_allowed.copy()
        if b == 0:
            allowed[[COMPONENTS.index(c) for c in NEEDS_A_HIT]] = False  # no hit: no homology evidence
        entry = {"proteins": int(len(rows))}
        if not allowed.any():
            weights[b] = 0.0
            entry["weights_from"] = "no evidence applies here (nothing given but homology)"
        elif len(rows) >= min_proteins:
            weights[b], entry["fused"] = search(rows, allowed)
            entry["weights_from"] = "this bin"
        else:
            weights[b] = _within(overall, allowed)
            entry["weights_from"] = f"all fitting proteins (fewer than {min_proteins} here)"
        if len(rows):
            for component in given:
                entry[component] = objective(truth[rows], np.broadcast_to(evidence[component], shape)[rows],
                                             single_label)
        report[name] = entry
    fusion = Fusion(weights, report, single_label=single_label)
    if single_label and prior_correction and len(everything):
        _fit_prior_correction(fusion, evidence, bins[everything], truth[everything], everything)
    return fusion


def _fit_prior_correction(fusion: Fusion, evidence: Mapping[str, np.ndarray], bins: np.ndarray, target: np.ndarray,
                          rows: np.ndarray) -> None:
    """Choose the single-label fusion's class-prior exponent by macro F1 on the fitting proteins `rows` (ties: the
    smaller exponent), and record every exponent tried in its report."""
    blended = fusion.blend({k: v if v.shape[0] == 1 else v[rows] for k, v in evidence.items()}, bins)
    tried = {}
    for exponent in PRIOR_EXPONENTS:
        scores = prior_corrected(blended, evidence["prior"], exponent)
        predicted = scores.argmax(1)
        tried[exponent] = {"macro_f1": macro_f1(single_class_truth(target, predicted), predicted),
                           "accuracy": objective(target, scores, True)}
    fusion.prior_exponent = max(PRIOR_EXPONENTS, key=lambda e: (tried[e]["macro_f1"], -e))
    fusion.report["prior_correction"] = {"chosen": fusion.prior_exponent,
                                         "tried": {str(e): v for e, v in tried.items()}}


def _within(weights: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The weights with the share of the components not `allowed` spread over the allowed ones in proportion (or
    evenly)."""
    out = np.where(allowed, weights, 0.0)
    if out.sum() <= 0:
        out = allowed.astype(np.float64)
    return out / out.sum()


__all__ = ["BINS", "COMPONENTS", "NEEDS_A_HIT", "PRIOR_EXPONENTS", "Fusion", "fit_fusion", "identity_bins",
           "ontology_consistent", "prior_corrected", "simplex_grid", "single_class_truth", "topological_order"]
