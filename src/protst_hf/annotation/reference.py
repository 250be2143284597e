"""An annotation reference: labelled proteins a ProtST model has embedded, searchable by homology (MMseqs2) and in
embedding space (FAISS), with the fusion of the evidence fitted on proteins apart from the ones they are annotated
with (cross-fitted reference proteins, or a validation split); and `annotate`, which scores query proteins against
it.

A reference folder:

    reference.json           what it holds (model, fields, counts, build report); written last: the completion mark
    README.md                its card
    proteins.fasta           the reference proteins, ids = row numbers (the MMseqs2 target)
    proteins.tsv             row, accession
    embeddings/              the model's embeddings (`protst embed` shards: resumable, one shard set per process)
    index/                   the FAISS index over them (`ProteinIndex`)
    fields/NAME/labels.tsv   label id, name, parents (label rows, `;`-joined)
    fields/NAME/members.npz  each reference protein's labels (CSR)
    fields/NAME/prompts.npy  the label prompts' text embeddings (the zero-shot classifier's, computed once)
    fields/NAME/field.json   kind, prompts, template, fitted fusion, what it was fitted on, and its report

The fusion is fitted either on a validation split, or (no split held out) by cross-fitting: reference proteins
sampled from K folds of their MMseqs2 clusters, each annotated against the reference without its fold, so each one
is a query whose family the reference lacks, as a new protein's may be.

A build killed midway leaves no `reference.json`: loading refuses the folder, and the same build command resumes
it (complete embedding shards are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.splits import mmseqs_cluster, mmseqs_hits, read_sequences, write_fasta
from ..embedding.shards import build_index, embed_file, iter_embedding_shards
from ..models.protst.index_protst import ProteinIndex, model_fingerprint
from ..models.protst.inference_protst import embed_proteins, embed_texts_cached
from ..models.protst.processing_protst import clean_protein
from ..models.protst.scoring_protst import ZeroShotClassifier, model_training_texts
from .evidence import LabelTable, hit_evidence, neighbour_evidence
from .fusion import Fusion, fit_fusion, identity_bins, ontology_consistent

REFERENCE_FILE = "reference.json"
FORMAT_VERSION = 1
MULTI_LABEL, SINGLE_LABEL = "multi_label", "single_label"


class IncompleteReferenceError(ValueError):
    """A reference folder without its completion mark (a build that was killed, or is still running)."""


class MismatchedReferenceModelError(ValueError):
    """Annotation asked with another model than the one the reference was embedded with."""


@dataclass
class FieldLabels:
    """One field of a reference: its labels, how to word them, and which reference proteins hold them.

    Attributes:
        name: the field (`molecular_function`, `subcellular_location`, ...).
        kind: `multi_label` (GO terms: independent scores, consistent with `parents`) or `single_label` (one class
            per protein: scores are a distribution).
        ids / names: each label's id (`GO:0005524`, a class name) and name (what the prompt says).
        prompts: the zero-shot prompts of each label (one or more).
        parents: each label's parents as label rows (GO's is_a / part_of within the field); empty lists otherwise.
        table: the labels of each reference protein, in reference row order.
    """

    name: str
    kind: str
    ids: list[str]
    names: list[str]
    prompts: list[list[str]]
    parents: list[list[int]]
    table: LabelTable

    def __post_init__(self):
        if self.kind not in (MULTI_LABEL, SINGLE_LABEL):
            raise ValueError(f"a field's kind is {MULTI_LABEL!r} or {SINGLE_LABEL!r}, got {self.kind!r}")
        if not (len(self.ids) == len(self.names) == len(self.prompts) == len(self.parents) == self.table.num_labels):
            raise ValueError(f"field {self.name!r}: {len(self.ids)} ids, {len(self.names)} names, "
                             f"{len(self.prompts)} prompt groups, {len(self.parents)} parent lists for "
                             f"{self.table.num_labels} labels")

    @property
    def single_label(self) -> bool:
        return self.kind == SINGLE_LABEL

    def label_rows(self, label_sets: Iterable[Iterable[str]]) -> list[list[int]]:
        """Each set of label ids as this field's label rows (e.g. validation proteins' GO terms); ids the field
        does not hold are left out (a term no reference protein has cannot be transferred or fitted on)."""
        position = {label: row for row, label in enumerate(self.ids)}
        return [[position[label] for label in labels if label in position] for labels in label_sets]


def go_fields(rows: Sequence[Mapping], ontology, templates: Mapping[str, str],
              namespaces: Sequence[str] = ("molecular_function", "biological_process", "cellular_component"),
              ) -> tuple[list[FieldLabels], dict[str, list[set[str]]]]:
    """One multi-label field per GO namespace from ProtDescribe GO rows (`go_terms`: `"F:GO:0005524"`, ...): each
    protein's terms under the true-path rule (propagated over is_a / part_of, roots excluded), every term held by
    some protein a label, worded by the namespace's template (`"MOLECULAR FUNCTION: {}."`).

    Returns:
        the fields, and per namespace each row's term set (what the fields' tables hold, by id).
    """
    fields, sets = [], {}
    for namespace in namespaces:
        per_row = [ontology.annotated_terms(row.get("go_terms") or [], namespace) for row in rows]
        terms = sorted({t for s in per_row for t in s})
        position = {t: i for i, t in enumerate(terms)}
        names = [ontology.name(t) or t for t in terms]
        parents = [[position[p] for p in ontology.parents.get(t, ()) if p in position] for t in terms]
        table = LabelTable.from_sets([[position[t] for t in s] for s in per_row], len(terms))
        template = templates[namespace]
        fields.append(FieldLabels(namespace, MULTI_LABEL, terms, names, [[template.format(n)] for n in names],
                                  parents, table))
        sets[namespace] = per_row
    return fields, sets


def class_field(name: str, classes: Sequence[str], label_sets: Sequence[Iterable[str]],
                prompts: Sequence[Sequence[str]]) -> FieldLabels:
    """A single-label field (e.g. `subcellular_location` over DeepLoc's 10 classes).

    Args:
        classes: the class names, in order.
        label_sets: each reference protein's classes (usually one; several are each given an equal share).
        prompts: each class's zero-shot prompts (e.g. a built-in label set's).
    """
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted({c for s in label_sets for c in s if c not in position})
    if unknown:
        raise ValueError(f"classes {unknown[:5]} are not among the field's {list(classes)}")
    table = LabelTable.from_sets([[position[c] for c in s] for s in label_sets], len(classes), single_label=True)
    return FieldLabels(name, SINGLE_LABEL, list(classes), list(classes), [list(p) for p in prompts],
                       [[] for _ in classes], table)


def clean_records(records: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The records whose sequences are proteins ([`clean_protein`]), cleaned, and one line per skipped record."""
    kept, skipped = [], []
    for identifier, sequence in records:
        try:
            kept.append((identifier, clean_protein(sequence, f"record {identifier!r}")))
        except ValueError as err:
            skipped.append(str(err))
    return kept, skipped


def _write_atomic(path: Path, text: str) -> None:
    with open(f"{path}.tmp", "w") as f:
        f.write(text)
    os.replace(f"{path}.tmp", path)


@dataclass
class Lookup:
    """What a set of query proteins finds in a reference, whatever the field.

    Attributes:
        embeddings: (queries, D) L2-normalised protein embeddings.
        hits: query row -> its MMseqs2 hits `(reference row, identity, bit score)`, best first.
        similarities / rows: (queries, k) cosines and reference rows of the nearest proteins (-1: none).
    """

    embeddings: torch.Tensor
    hits: dict[int, list[tuple[int, float, float]]]
    similarities: np.ndarray
    rows: np.ndarray


class AnnotationReference:
    """A loaded reference folder (see the module docstring). `AnnotationReference.load(folder)` refuses a folder
    whose build did not finish."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = Path(folder), manifest
        self._index: ProteinIndex | None = None
        self._fields: dict[str, tuple[FieldLabels, Fusion, dict]] = {}
        self._classifiers: dict[str, ZeroShotClassifier] = {}

    @classmethod
    def load(cls, folder_or_repo: str | Path, revision: str | None = None) -> AnnotationReference:
        """From a folder, or from a Hub dataset repository holding one (`protst push REF --repo ORG/NAME`;
        downloaded once, cached)."""
        folder = Path(folder_or_repo)
        if not folder.is_dir() and str(folder_or_repo).count("/") == 1 and not str(folder_or_repo).startswith("."):
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(str(folder_or_repo), repo_type="dataset", revision=revision,
                                            ignore_patterns=["embeddings/*"]))
        if not folder.is_dir():
            raise FileNotFoundError(f"no annotation reference at {folder_or_repo}")
        mark = folder / REFERENCE_FILE
        if not mark.is_file():
            raise IncompleteReferenceError(
                f"{folder} is not a complete annotation reference (no {REFERENCE_FILE}): its build was killed or is "
                "still running. Rerun the same `protst reference build` command to resume it.")
        manifest = json.loads(mark.read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder}: reference format {manifest.get('format')!r}, this version reads "
                             f"{FORMAT_VERSION}")
        return cls(folder, manifest)

    @property
    def field_names(self) -> list[str]:
        return list(self.manifest["fields"])

    @property
    def index(self) -> ProteinIndex:
        if self._index is None:
            self._index = ProteinIndex.load(self.folder / "index")
        return self._index

    def field(self, name: str) -> tuple[FieldLabels, Fusion, dict]:
        """The field's labels, fitted fusion and description; a field the reference lacks is an error naming the
        ones it has."""
        from ..models.protst.texts_protst import resolve_field

        wanted = name if name in self.manifest["fields"] else resolve_field(name)
        if wanted not in self.manifest["fields"]:
            raise ValueError(f"this reference holds no field {name!r}; its fields: {', '.join(self.field_names)}")
        if wanted not in self._fields:
            self._fields[wanted] = _read_field(self.folder / "fields" / wanted, wanted)
        return self._fields[wanted]

    def check_model(self, model) -> None:
        recorded = self.manifest["model_fingerprint"]
        if model_fingerprint(model) != recorded:
            raise MismatchedReferenceModelError(
                f"the reference was embedded with {self.manifest['model']!r} (weights {recorded}); this model's "
                f"weights differ ({model_fingerprint(model)}). Annotate with the reference's model, or build a "
                "reference with this one.")

    def lookup(self, model, processor, sequences: Sequence[str], dtype: str | None = None,
               threads: int | None = None, workdir: str | Path | None = None,
               embeddings: torch.Tensor | None = None) -> Lookup:
        """Everything about cleaned `sequences` that does not depend on the field: their embeddings, MMseqs2 hits
        in the reference and nearest reference proteins in embedding space (computed once for every field)."""
        if embeddings is None:
            embeddings = embed_proteins(model, processor, list(sequences), dtype=dtype)
        settings = self.manifest["settings"]
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            write_fasta(Path(tmp) / "queries.fasta", ((str(i), s) for i, s in enumerate(sequences)))
            found = mmseqs_hits(Path(tmp) / "queries.fasta", self.folder / "proteins.fasta",
                                max_hits=settings["max_hits"], sensitivity=settings["sensitivity"],
                                iterations=settings.get("search_iterations", 1), threads=threads, workdir=tmp)
        hits = {int(q): [(int(t), identity, bits) for t, identity, bits in found_hits]
                for q, found_hits in found.items()}
        similarities, ids = self.index.search(embeddings.numpy(), k=settings["neighbours"])
        rows = np.full(similarities.shape, -1, dtype=np.int64)
        for q, neighbours in enumerate(ids):
            rows[q, :len(neighbours)] = [int(i) for i in neighbours]
        return Lookup(embeddings, hits, np.nan_to_num(similarities, nan=0.0), rows)

    def cross_fit_lookup(self, clusters: Sequence, proteins: int = 5000, folds: int = 5, seed: int = 0,
                         threads: int | None = None, workdir: str | Path | None = None) -> tuple[np.ndarray, Lookup]:
        """Reference proteins looked up as queries from families the reference lacks (cross-fitting): the clusters
        are dealt into `folds` folds, up to `proteins / folds` proteins are drawn from each fold, and each is searched
        (MMseqs2 and embedding neighbours) against the reference proteins of the other folds only.

        Args:
            clusters: the cluster of each reference protein, in row order (e.g. ProtDescribe's `cluster` column, or
                MMseqs2 representatives); proteins of one cluster never find each other.
            proteins: how many reference proteins to draw, spread evenly over the folds.
            folds: the number of folds (2 or more).

        Returns:
            `(rows, lookup)`: the drawn proteins' reference rows and what they found (rows of the whole reference).
        """
        settings = self.manifest["settings"]
        count = self.manifest["proteins"]
        if len(clusters) != count:
            raise ValueError(f"{len(clusters)} cluster ids for a reference of {count} proteins")
        draws = cross_fit_folds(clusters, proteins, folds, seed)
        embeddings = np.concatenate([vectors for _, vectors in iter_embedding_shards(self.folder / "embeddings")])
        sequences = dict(read_sequences(self.folder / "proteins.fasta"))
        drawn, hits, similarities, neighbours = [], {}, [], []
        for queries, targets in draws:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                write_fasta(Path(tmp) / "queries.fasta", ((str(i), sequences[str(r)]) for i, r in enumerate(queries)))
                write_fasta(Path(tmp) / "targets.fasta", ((str(r), sequences[str(r)]) for r in targets))
                found = mmseqs_hits(Path(tmp) / "queries.fasta", Path(tmp) / "targets.fasta",
                                    max_hits=settings["max_hits"], sensitivity=settings["sensitivity"],
                                    iterations=settings.get("search_iterations", 1), threads=threads, workdir=tmp)
            for q, found_hits in found.items():
                hits[len(drawn) + int(q)] = [(int(t), identity, bits) for t, identity, bits in found_hits]
            k = min(settings["neighbours"], len(targets))
            cosines = torch.from_numpy(embeddings[queries]) @ torch.from_numpy(embeddings[targets]).T
            values, places = cosines.topk(k, dim=1)
            similarities.append(values.numpy())
            neighbours.append(targets[places.numpy()])
            drawn.extend(queries.tolist())
        rows = np.asarray(drawn, dtype=np.int64)
        lookup = Lookup(torch.from_numpy(embeddings[rows]), hits, np.concatenate(similarities).astype(np.float32),
                        np.concatenate(neighbours).astype(np.int64))
        return rows, lookup

    def evidence(self, model, lookup: Lookup, field: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The evidences of `field` (each of `COMPONENTS`) for the proteins of `lookup` (each (queries, labels)
        float32; `prior` one row), and the identity bin of each one's best hit."""
        labels, _fusion, info = self.field(field)
        from_hits, best_identity = hit_evidence(lookup.hits, labels.table, len(lookup.rows))
        neighbours = neighbour_evidence(lookup.similarities, lookup.rows, labels.table)
        text = self._zero_shot(model, labels).probabilities(lookup.embeddings, multi_label=not labels.single_label)
        text = text.numpy().astype(np.float32)
        if any(labels.parents):
            ontology_consistent(text, labels.parents)
        prior = np.asarray(info["prior"], dtype=np.float32)[None, :]
        return {**from_hits, "neighbours": neighbours, "text": text, "prior": prior}, identity_bins(best_identity)

    def _zero_shot(self, model, labels: FieldLabels) -> ZeroShotClassifier:
        if labels.name not in self._classifiers:
            embeds = torch.from_numpy(np.load(self.folder / "fields" / labels.name / "prompts.npy"))
            self._classifiers[labels.name] = ZeroShotClassifier.build(
                model, None, labels.names, labels.prompts, model_training_texts(model), prompt_embeds=embeds)
        return self._classifiers[labels.name]

    def annotate(self, model, processor, records: Iterable[tuple[str, str]], field: str, chunk_size: int = 1000,
                 dtype: str | None = None, threads: int | None = None, check_model: bool = True,
                 ) -> Iterator[tuple[list[str], np.ndarray, dict[str, np.ndarray], np.ndarray]]:
        """Fused scores of `field` for `(id, sequence)` records, `chunk_size` proteins at a time: yields `(ids,
        scores (chunk, labels) float32 in [0, 1], evidence, bins)`. Records must be clean ([`clean_records`])."""
        if check_model:
            self.check_model(model)
        _labels, fusion, _info = self.field(field)
        batch: list[tuple[str, str]] = []

        def flush():
            ids, sequences = [i for i, _ in batch], [s for _, s in batch]
            lookup = self.lookup(model, processor, sequences, dtype=dtype, threads=threads)
            evidence, bins = self.evidence(model, lookup, field)
            return ids, fusion.fuse(evidence, bins), evidence, bins

        for record in records:
            batch.append(record)
            if len(batch) == chunk_size:
                yield flush()
                batch = []
        if batch:
            yield flush()


def cross_fit_folds(clusters: Sequence, proteins: int = 5000, folds: int = 5,
                    seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cross-fitting draw of [`AnnotationReference.cross_fit_lookup`]: the clusters dealt into `folds` folds at
    random, up to `proteins / folds` proteins drawn from each fold. Returns one `(queries, targets)` pair of sorted
    row arrays per non-empty fold: the drawn proteins and every protein of the other folds (never their cluster)."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    _, cluster_of = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    rng = np.random.default_rng(seed)
    fold_of = (rng.permutation(cluster_of.max() + 1) % folds)[cluster_of]
    if len(np.unique(fold_of)) < 2:
        raise ValueError("cross-fitting needs at least 2 clusters in the reference")
    per_fold = -(-proteins // folds)
    draws = []
    for fold in range(folds):
        members = np.flatnonzero(fold_of == fold)
        if len(members):
            queries = np.sort(rng.choice(members, min(per_fold, len(members)), replace=False))
            draws.append((queries, np.flatnonzero(fold_of != fold)))
    return draws


def _read_field(folder: Path, name: str) -> tuple[FieldLabels, Fusion, dict]:
    info = json.loads((folder / "field.json").read_text())
    ids, names, parents = [], [], []
    with open(folder / "labels.tsv") as f:
        next(f)
        for line in f:
            label_id, label_name, label_parents = line.rstrip("\n").split("\t")
            ids.append(label_id)
            names.append(label_name)
            parents.append([int(p) for p in label_parents.split(";") if p])
    members = np.load(folder / "members.npz")
    table = LabelTable(members["indptr"], members["indices"], len(ids), info["kind"] == SINGLE_LABEL)
    labels = FieldLabels(name, info["kind"], ids, names, info["prompts"], parents, table)
    return labels, Fusion.from_dict(info["fusion"]), info


def _write_field(folder: Path, labels: FieldLabels, prompt_embeds: np.ndarray, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id\tname\tparents"] + [f"{i}\t{n}\t{';'.join(map(str, p))}" for i, n, p in
                                      zip(labels.ids, labels.names, labels.parents)]
    _write_atomic(folder / "labels.tsv", "\n".join(lines) + "\n")
    np.savez(folder / "members.npz", indptr=labels.table.indptr, indices=labels.table.indices)
    np.save(folder / "prompts.npy", prompt_embeds.astype(np.float32))
    _write_atomic(folder / "field.json", json.dumps({"kind": labels.kind, "prompts": labels.prompts, **info},
                                                    indent=1) + "\n")


def build_reference(
    output: str | Path,
    model,
    processor,
    proteins: Sequence[tuple[str, str]],
    fields: Sequence[FieldLabels],
    validation: Sequence[tuple[str, str]] | None = None,
    validation_labels: Mapping[str, Sequence[Sequence[int]]] | None = None,
    model_name: str | None = None,
    fingerprint: str | None = None,
    neighbours: int = 10,
    max_hits: int = 10,
    sensitivity: float = 7.5,
    search_iterations: int = 1,
    prior_correction: bool = True,
    clusters: Sequence | None = None,
    fit_proteins: int = 5000,
    fit_folds: int = 5,
    seed: int = 0,
    dtype: str | None = None,
    threads: int | None = None,
    shard_size: int = 10_000,
    rank: int = 0,
    world_size: int = 1,
    wait: Callable[[], None] = lambda: None,
    progress: bool = True,
    report: Mapping | None = None,
) -> dict:
    """Build (or resume) a reference folder: embed `proteins` (each process its shards), then on the main process
    index them, store each field's labels and prompt embeddings, and fit each field's fusion on `validation`, or,
    without it, on reference proteins cross-fitted over their clusters ([`AnnotationReference.cross_fit_lookup`]).

    Args:
        output: the reference folder (a finished one is refused; an unfinished one is resumed).
        model, processor: the ProtST model the reference is embedded with, and its processor.
        model_name, fingerprint: what `annotate` checks its model against (default: the model's path and the
            fingerprint of its weights as they are now; give the fingerprint of the saved weights when `model` was
            cast for inference).
        proteins: `(accession, sequence)` of the reference proteins (cleaned: [`clean_records`]), in the order of
            the fields' tables.
        fields: the label fields ([`go_fields`], [`class_field`]).
        validation: `(accession, sequence)` of the proteins the fusion is fitted on (never the test split); None:
            cross-fit on the reference proteins instead, so that every labelled protein can be in the reference.
        validation_labels: per field, each validation protein's label rows.
        clusters: cross-fitting: each reference protein's cluster (e.g. ProtDescribe's `cluster` column); None:
            MMseqs2 clusters at 30% identity and 80% coverage, computed here.
        fit_proteins, fit_folds, seed: cross-fitting: proteins drawn, cluster folds, and the draw's seed.
        neighbours: k of the embedding-space transfer. `max_hits`, `sensitivity`, `search_iterations`: of the
            MMseqs2 search ([`mmseqs_hits`]; iterations above 1: a profile search, measured worse for GO transfer).
        prior_correction: single-label fields: fit the class-prior correction of the fused distribution ([`Fusion`];
            False: the accuracy-fitted blend as it is).
        shard_size: proteins per embedding shard (the unit of resuming and of splitting over processes).
        rank, world_size, wait: this process, the number of processes and a barrier (`accelerate`'s
            `wait_for_everyone`): embedding shards are split over the processes.
        report: what the caller knows of the proteins it left out (recorded in `reference.json`).

    Returns:
        the build summary (on every process; the main process's holds the fit).
    """
    output = Path(output)
    if (output / REFERENCE_FILE).exists():
        raise ValueError(f"{output} is a finished reference already: choose another folder or remove it")
    started = time.perf_counter()
    for labels in fields:
        if len(labels.table) != len(proteins):
            raise ValueError(f"field {labels.name!r} labels {len(labels.table)} proteins, the reference has "
                             f"{len(proteins)}")
        have = len((validation_labels or {}).get(labels.name, ()))
        if validation is not None and have != len(validation):
            raise ValueError(f"field {labels.name!r}: validation labels for {have} of {len(validation)} validation "
                             "proteins")
    if clusters is not None and len(clusters) != len(proteins):
        raise ValueError(f"{len(clusters)} cluster ids for {len(proteins)} reference proteins")
    if search_iterations < 1:
        raise ValueError(f"search_iterations must be 1 or more, got {search_iterations}")
    output.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        if not (output / "proteins.fasta").exists():
            write_fasta(output / "proteins.fasta.tmp", ((str(row), s) for row, (_, s) in enumerate(proteins)))
            os.replace(output / "proteins.fasta.tmp", output / "proteins.fasta")
        _write_atomic(output / "proteins.tsv",
                      "row\taccession\n" + "".join(f"{row}\t{a}\n" for row, (a, _) in enumerate(proteins)))
    wait()
    embedding = embed_file(output / "proteins.fasta", model, processor, output / "embeddings", dtype=dtype,
                           shard_size=shard_size, rank=rank, world_size=world_size, progress=progress)
    wait()
    summary = {"embedding": {k: embedding[k] for k in ("records", "seconds", "written", "skipped_complete")}}
    if rank == 0:
        index_started = time.perf_counter()
        index = build_index(output / "embeddings")
        if len(index) != len(proteins):
            raise RuntimeError(f"the embeddings hold {len(index)} of {len(proteins)} proteins")
        if index.ids != [str(row) for row in range(len(proteins))]:
            raise RuntimeError("the embeddings' ids are not the reference rows in order")
        if (output / "index").exists():
            shutil.rmtree(output / "index")
        index.save(output / "index", card=False)
        summary["index_seconds"] = time.perf_counter() - index_started
        manifest = {"format": FORMAT_VERSION, "model": model_name or getattr(model.config, "_name_or_path", ""),
                    "model_fingerprint": fingerprint or model_fingerprint(model), "proteins": len(proteins),
                    "settings": {"neighbours": neighbours, "max_hits": max_hits, "sensitivity": sensitivity,
                                 "search_iterations": search_iterations},
                    "fields": {}, "left_out": dict(report or {})}
        reference = AnnotationReference(output, manifest)
        fit_started = time.perf_counter()
        lookup = fit_rows = None
        if validation is None:
            if clusters is None:
                found = mmseqs_cluster(output / "proteins.fasta", identity=0.3, coverage=0.8, threads=threads,
                                       workdir=output)
                clusters = [found[str(row)] for row in range(len(proteins))]
            fit_rows, lookup = reference.cross_fit_lookup(clusters, fit_proteins, fit_folds, seed=seed,
                                                          threads=threads, workdir=output)
            fitted_on = {"method": "cross-fitted reference proteins", "proteins": len(fit_rows),
                         "folds": fit_folds, "clusters": len(set(map(str, clusters))), "seed": seed}
        else:
            fitted_on = {"method": "validation split", "proteins": len(validation)}
        for labels in fields:
            field_started = time.perf_counter()
            # the label prompts through the text cache (keyed by the weights): a resumed build reads them back
            prompt_embeds = embed_texts_cached(model, processor, [p for group in labels.prompts for p in group],
                                               dtype=dtype)
            info = {"prior": labels.table.frequencies().round(8).tolist()}
            manifest["fields"][labels.name] = {"kind": labels.kind, "labels": len(labels.ids)}
            reference._classifiers[labels.name] = ZeroShotClassifier.build(
                model, None, labels.names, labels.prompts, model_training_texts(model), prompt_embeds=prompt_embeds)
            reference._fields[labels.name] = (labels, None, info)
            if lookup is None:  # once the index is saved; the same lookup for every field
                lookup = reference.lookup(model, processor, [s for _, s in validation], dtype=dtype,
                                          threads=threads, workdir=output)
            evidence, bins = reference.evidence(model, lookup, labels.name)
            truth = labels.table.dense(fit_rows) if fit_rows is not None else \
                LabelTable.from_sets(validation_labels[labels.name], len(labels.ids)).dense()
            fusion = fit_fusion(evidence, bins, truth, single_label=labels.single_label,
                                prior_correction=prior_correction)
            info.update(fusion=fusion.to_dict(), fitted_on=fitted_on, fit_seconds=time.perf_counter() - field_started)
            _write_field(output / "fields" / labels.name, labels, prompt_embeds.numpy(), info)
            reference._fields[labels.name] = (labels, fusion, info)
        summary["fit_seconds"] = time.perf_counter() - fit_started
        summary["fitted_on"] = fitted_on
        summary["seconds"] = time.perf_counter() - started
        manifest["build"] = {**summary, "processes": world_size}
        (output / "README.md").write_text(reference_card(manifest))
        _write_atomic(output / REFERENCE_FILE, json.dumps(manifest, indent=2) + "\n")
    wait()
    return summary


def _fitted_on(manifest: Mapping) -> str:
    fitted = manifest.get("build", {}).get("fitted_on", {})
    if fitted.get("method") == "cross-fitted reference proteins":
        return (f"{fitted['proteins']:,} reference proteins cross-fitted over {fitted['folds']} folds of their "
                f"{fitted['clusters']:,} clusters")
    return f"a validation split of {fitted['proteins']:,} proteins" if fitted else "a validation split"


def reference_card(manifest: Mapping) -> str:
    """The reference's README: what it holds and how it was fitted."""
    lines = ["---", "tags:", "- protst-hf", "- protein-function-annotation", "---", "",
             "# Annotation reference (protst-hf)", "",
             f"{manifest['proteins']:,} labelled proteins embedded with `{manifest['model']}` (weights "
             f"`{manifest['model_fingerprint']}`), searchable by MMseqs2 and in embedding space, with the fusion of "
             "homology (DiamondScore, and the best hit's labels scored by its identity), embedding neighbours, the "
             "model's zero-shot scores and the label frequencies fitted per "
             f"identity bin on {_fitted_on(manifest)}.", "",
             "```bash", "protst annotate proteins.fasta --reference THIS_FOLDER --field FIELD --output scores.tsv",
             "```", "", "| field | kind | labels |", "|---|---|---|"]
    lines += [f"| {name} | {f['kind']} | {f['labels']:,} |" for name, f in manifest["fields"].items()]
    return "\n".join(lines) + "\n"


def write_annotations(path: str | Path, results: Iterable[tuple[list[str], np.ndarray, dict, np.ndarray]],
                      labels: FieldLabels, fusion: Fusion, min_score: float = 0.01, top_k: int | None = None,
                      cafa: str | Path | None = None, author: str = "protst-hf") -> int:
    """The long TSV (`id, label_id, name, score, evidence`: each evidence's weighted share, e.g.
    `homology=0.41;best_hit=0.12;neighbours=0.22;text=0.03`), best first per protein, scores >= `min_score`, at most
    `top_k` labels per protein; and with `cafa`, the CAFA submission file of the same predictions (two-decimal scores
    in (0, 1]). Returns the rows written."""
    written = 0
    cafa_file = open(cafa, "w") if cafa else None
    try:
        if cafa_file:
            cafa_file.write(f"AUTHOR {author}\nMODEL 1\nKEYWORDS sequence alignment, machine learning, natural "
                            "language processing.\n")
        with open(path, "w") as out:
            out.write("id\tlabel_id\tname\tscore\tevidence\n")
            for ids, scores, evidence, bins in results:
                for q, identifier in enumerate(ids):
                    row = scores[q]
                    order = np.argsort(-row, kind="stable")
                    order = order[row[order] >= min_score][:top_k]
                    shares = fusion.contributions(evidence, bins, q, order)
                    for position, label in enumerate(order):
                        parts = ";".join(f"{k}={v[position]:.3f}" for k, v in shares.items() if v[position] > 0)
                        out.write(f"{identifier}\t{labels.ids[label]}\t{labels.names[label]}\t{row[label]:.4f}\t"
                                  f"{parts}\n")
                        written += 1
                        if cafa_file and row[label] >= 0.005:
                            cafa_file.write(f"{identifier}\t{labels.ids[label]}\t{max(row[label], 0.01):.2f}\n")
        if cafa_file:
            cafa_file.write("END\n")
    finally:
        if cafa_file:
            cafa_file.close()
    return written


__all__ = ["AnnotationReference", "FieldLabels", "IncompleteReferenceError", "Lookup", "MismatchedReferenceModelError",
           "build_reference", "class_field", "clean_records", "cross_fit_folds", "go_fields", "reference_card",
           "write_annotations"]
