"""Building an annotation reference: embed the labelled proteins (resumable shards, split over processes), index
them, store each field's labels and prompt embeddings, and fit each field's fusion on proteins apart from the ones
they are annotated with: cross-fitted reference proteins (K folds of their MMseqs2 clusters, each annotated against
the reference without its fold, so each one is a query whose family the reference lacks, as a new protein's may
be), or a validation split. Every step longer than a few seconds says where it is."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.splits import mmseqs_cluster
from ..embedding.shards import build_index, embed_file
from ..evaluation.metrics import f1_max_threshold
from ..models.protst.index_protst import model_fingerprint
from ..models.protst.inference_protst import embed_texts_cached
from .evidence import LabelTable
from .fields import FieldLabels
from .fusion import fit_fusion
from .reference import AnnotationReference
from .search import cross_fit_lookup
from .store import REFERENCE_FILE, write_field, write_proteins


@dataclass
class ReferenceBuildArguments:
    """How a reference is searched and fitted (`protst reference build`'s flags).

    Args:
        neighbours: k of the embedding-space transfer.
        max_hits, sensitivity, search_iterations: of the MMseqs2 search ([`mmseqs_hits`]; iterations above 1: a
            profile search, measured worse for GO transfer in benchmarks/studies/go_fusion_alternatives.py).
        prior_correction: single-label fields: fit the class-prior correction of the fused distribution ([`Fusion`];
            False: the accuracy-fitted blend as it is).
        fit_proteins, fit_folds, seed: cross-fitting: proteins drawn, cluster folds, and the draw's seed.
        dtype: autocast precision of the towers while embedding (None: the model's).
        threads: MMseqs2 threads.
        shard_size: proteins per embedding shard (the unit of resuming and of splitting over processes).
        progress: progress bars and a line per step on stderr.
    """

    neighbours: int = 10
    max_hits: int = 10
    sensitivity: float = 7.5
    search_iterations: int = 1
    prior_correction: bool = True
    fit_proteins: int = 5000
    fit_folds: int = 5
    seed: int = 0
    dtype: str | None = None
    threads: int | None = None
    shard_size: int = 10_000
    progress: bool = True

    def __post_init__(self):
        if self.search_iterations < 1:
            raise ValueError(f"search_iterations must be 1 or more, got {self.search_iterations}")

    @property
    def search_settings(self) -> dict:
        """What the reference records of its search (read back by every lookup)."""
        return {"neighbours": self.neighbours, "max_hits": self.max_hits, "sensitivity": self.sensitivity,
                "search_iterations": self.search_iterations}


class _Steps:
    """One line per step on stderr, with the time since the build started (when `progress`)."""

    def __init__(self, enabled: bool, started: float):
        self.enabled, self.started = enabled, started

    def __call__(self, what: str) -> None:
        if self.enabled:
            print(f"[reference build {time.perf_counter() - self.started:7.1f} s] {what}", file=sys.stderr, flush=True)


def _check(proteins, fields, validation, validation_labels, clusters) -> None:
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


def build_reference(
    output: str | Path,
    model,
    processor,
    proteins: Sequence[tuple[str, str]],
    fields: Sequence[FieldLabels],
    validation: Sequence[tuple[str, str]] | None = None,
    validation_labels: Mapping[str, Sequence[Sequence[int]]] | None = None,
    arguments: ReferenceBuildArguments | None = None,
    *,
    clusters: Sequence | None = None,
    model_name: str | None = None,
    fingerprint: str | None = None,
    rank: int = 0,
    world_size: int = 1,
    wait: Callable[[], None] = lambda: None,
    report: Mapping | None = None,
    sources: Mapping | None = None,
    **settings,
) -> dict:
    """Build (or resume) a reference folder: embed `proteins` (each process its shards), then on the main process
    index them, store each field's labels and prompt embeddings, and fit each field's fusion on `validation`, or,
    without it, on reference proteins cross-fitted over their clusters ([`cross_fit_lookup`]).

    Args:
        output: the reference folder (a finished one is refused; an unfinished one is resumed).
        model, processor: the ProtST model the reference is embedded with, and its processor.
        proteins: `(accession, sequence)` of the reference proteins (cleaned: [`clean_records`]), in the order of
            the fields' tables.
        fields: the label fields ([`go_fields`], [`class_field`], or [`reference_inputs`] from a dataset).
        validation: `(accession, sequence)` of the proteins the fusion is fitted on (never the test split); None:
            cross-fit on the reference proteins instead, so that every labelled protein can be in the reference.
        validation_labels: per field, each validation protein's label rows.
        arguments: the search and fit settings ([`ReferenceBuildArguments`]); `**settings` overrides its fields
            (`build_reference(..., neighbours=5)`).
        clusters: cross-fitting: each reference protein's cluster (e.g. ProtDescribe's `cluster` column); None:
            MMseqs2 clusters at 30% identity and 80% coverage, computed here.
        model_name, fingerprint: what `annotate` checks its model against (default: the model's path and the
            fingerprint of its weights as they are now; give the fingerprint of the saved weights when `model` was
            cast for inference).
        rank, world_size, wait: this process, the number of processes and a barrier (`accelerate`'s
            `wait_for_everyone`): embedding shards are split over the processes.
        report: what the caller knows of the proteins it left out (recorded in `reference.json`).
        sources: where the labels came from: files, ontology version, evidence codes kept, annotations kept and
            dropped per reason (`GOLabelReport.to_dict()`); recorded in `reference.json` and stated in the card.

    Returns:
        the build summary (on every process; the main process's holds the fit).
    """
    arguments = replace(arguments or ReferenceBuildArguments(), **settings)
    output = Path(output)
    if (output / REFERENCE_FILE).exists():
        raise ValueError(f"{output} is a finished reference already: choose another folder or remove it")
    started = time.perf_counter()
    step = _Steps(arguments.progress and rank == 0, started)
    _check(proteins, fields, validation, validation_labels, clusters)
    output.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        write_proteins(output, proteins)
    wait()
    embedding = embed_file(output / "proteins.fasta", model, processor, output / "embeddings", dtype=arguments.dtype,
                           shard_size=arguments.shard_size, rank=rank, world_size=world_size, wait=wait,
                           progress=arguments.progress)
    wait()
    summary = {"embedding": {k: embedding[k] for k in ("records", "seconds", "written", "skipped_complete")}}
    if rank == 0:
        fit, manifest = _index_and_fit(output, model, processor, proteins, fields, validation, validation_labels,
                                       arguments, clusters, model_name, fingerprint, report, sources, step)
        summary.update(fit, seconds=time.perf_counter() - started)
        manifest["build"] = {**summary, "processes": world_size}
        AnnotationReference.write_marker(output, manifest)
        step(f"written: {output / REFERENCE_FILE}")
    wait()
    return summary


def _index_and_fit(output, model, processor, proteins, fields, validation, validation_labels, arguments, clusters,
                   model_name, fingerprint, report, sources, step) -> tuple[dict, dict]:
    """The main process's part of the build: the index, the fit's lookup (computed once for every field), and each
    field's fusion, written as it is fitted. Returns the fit's summary and the reference's manifest."""
    index_started = time.perf_counter()
    step("indexing the embeddings")
    index = build_index(output / "embeddings")
    if len(index) != len(proteins):
        raise RuntimeError(f"the embeddings hold {len(index)} of {len(proteins)} proteins")
    if index.ids != [str(row) for row in range(len(proteins))]:
        raise RuntimeError("the embeddings' ids are not the reference rows in order")
    if (output / "index").exists():
        shutil.rmtree(output / "index")
    index.save(output / "index", card=False)
    summary = {"index_seconds": time.perf_counter() - index_started}
    manifest = {"model": model_name or getattr(model.config, "_name_or_path", ""),
                "model_fingerprint": fingerprint or model_fingerprint(model), "proteins": len(proteins),
                "settings": arguments.search_settings, "fields": {}, "left_out": dict(report or {})}
    if sources:
        manifest["labels"] = dict(sources)
    reference = AnnotationReference(output, manifest, index=index)
    fit_started = time.perf_counter()
    if validation is None:
        if clusters is None:
            step(f"clustering {len(proteins):,} proteins with MMseqs2 (30% identity) for the cross-fit")
            found = mmseqs_cluster(output / "proteins.fasta", identity=0.3, coverage=0.8, threads=arguments.threads,
                                   workdir=output)
            clusters = [found[str(row)] for row in range(len(proteins))]
        fit_rows, lookup = cross_fit_lookup(output, index, manifest["settings"], clusters, arguments.fit_proteins,
                                            arguments.fit_folds, seed=arguments.seed, threads=arguments.threads,
                                            workdir=output, progress=step)
        fitted_on = {"method": "cross-fitted reference proteins", "proteins": len(fit_rows),
                     "folds": arguments.fit_folds, "clusters": len(set(map(str, clusters))), "seed": arguments.seed}
    else:
        step(f"searching the {len(validation):,} validation proteins")
        fit_rows = None
        lookup = reference.lookup(model, processor, [s for _, s in validation], dtype=arguments.dtype,
                                  threads=arguments.threads, workdir=output)
        fitted_on = {"method": "validation split", "proteins": len(validation)}
    for labels in fields:
        field_started = time.perf_counter()
        step(f"fitting the fusion of {labels.name} ({len(labels.ids):,} labels)")
        # the label prompts through the text cache (keyed by the weights): a resumed build reads them back
        prompt_embeds = embed_texts_cached(model, processor, [p for group in labels.prompts for p in group],
                                           dtype=arguments.dtype)
        info = {"prior": labels.table.frequencies().round(8).tolist()}
        reference.add_field(model, labels, info, prompt_embeds)  # what its evidence() reads, before the fit
        evidence, bins = reference.evidence(model, lookup, labels.name)
        truth = labels.table.dense(fit_rows) if fit_rows is not None else \
            LabelTable.from_sets(validation_labels[labels.name], len(labels.ids)).dense()
        fusion = fit_fusion(evidence, bins, truth, single_label=labels.single_label,
                            prior_correction=arguments.prior_correction)
        info.update(fusion=fusion.to_dict(), fitted_on=fitted_on, fit_seconds=time.perf_counter() - field_started)
        if not labels.single_label:  # `annotate --threshold auto`: the fused scores' Fmax threshold on the fit rows
            fmax, threshold = f1_max_threshold(truth, fusion.fuse(evidence, bins))
            info.update(threshold=threshold, threshold_fmax=fmax)
        write_field(output / "fields" / labels.name, labels, prompt_embeds.numpy(), info)
    summary.update(fit_seconds=time.perf_counter() - fit_started, fitted_on=fitted_on)
    return summary, manifest


__all__ = ["ReferenceBuildArguments", "build_reference"]
