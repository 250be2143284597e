"""An annotation reference, loaded: labelled proteins a ProtST model has embedded, searchable by homology (MMseqs2)
and in embedding space (FAISS), each field with its fusion of the evidence fitted at build time
([`build_reference`]); `annotate` scores query proteins against it. The folder's format: `store.py`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..models.protst.fasta_protst import iter_chunks
from ..models.protst.index_protst import ProteinIndex, model_fingerprint
from ..models.protst.inference_protst import embed_proteins
from ..models.protst.prompts_protst import model_training_texts
from ..models.protst.zero_shot_protst import ZeroShotClassifier
from .evidence import Supporters, hit_evidence, neighbour_evidence
from .fields import FieldLabels
from .fusion import Fusion, identity_bins, ontology_consistent
from .search import Lookup, cross_fit_lookup, search_reference
from .store import ReferenceFolder, read_field


class MismatchedReferenceModelError(ValueError):
    """Annotation asked with another model than the one the reference was embedded with."""


class AnnotationReference(ReferenceFolder):
    """A loaded reference folder. `AnnotationReference.load(folder)` refuses a folder whose build did not finish."""

    def __init__(self, folder: Path, manifest: dict, index: ProteinIndex | None = None):
        self.folder, self.manifest = Path(folder), manifest
        self._index = index
        self._fields: dict[str, tuple[FieldLabels, Fusion | None, dict]] = {}
        self._classifiers: dict[str, ZeroShotClassifier] = {}
        self._accessions: list[str] | None = None

    @classmethod
    def load(cls, folder_or_repo: str | Path, revision: str | None = None) -> AnnotationReference:
        """From a folder, or from a Hub dataset repository holding one (`protst push REF --repo ORG/NAME`;
        downloaded once, cached)."""
        folder = cls.resolve_folder(folder_or_repo, revision)
        return cls(folder, cls.read_marker(folder))

    @property
    def field_names(self) -> list[str]:
        return list(self.manifest["fields"])

    @property
    def accessions(self) -> list[str]:
        """Each reference row's accession (`proteins.tsv`)."""
        if self._accessions is None:
            with open(self.folder / "proteins.tsv") as f:
                next(f)
                self._accessions = [line.rstrip("\n").split("\t", 1)[1] for line in f]
        return self._accessions

    @property
    def ontology_version(self) -> str | None:
        return (self.manifest.get("labels") or {}).get("ontology_version")

    def label_sets(self, fields: Sequence[str]) -> list[set[str]]:
        """Each reference protein's label ids over `fields` (e.g. the GO namespaces: what information accretion is
        computed from)."""
        sets = [set() for _ in range(self.manifest["proteins"])]
        for name in fields:
            labels = self.field(name)[0]
            for row, held in enumerate(sets):
                held.update(labels.ids[j] for j in labels.table.row(row))
        return sets

    def fitted_threshold(self, field: str) -> float:
        """The score above which `field`'s fused scores reached their Fmax on the build's fit proteins (what
        `protst annotate --threshold auto` keeps)."""
        info = self.field(field)[2]
        if "threshold" not in info:
            raise ValueError(f"the reference records no threshold for {field!r} (a single-label field, or a "
                             "reference built before thresholds were recorded: rebuild it, or give a number)")
        return float(info["threshold"])

    def supporters(self, lookup: Lookup, field: str) -> Supporters:
        """The reference proteins that support each label of `field` for the proteins of `lookup`."""
        return Supporters(lookup.hits, lookup.similarities, lookup.rows, self.field(field)[0].table, self.accessions)

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
            self._fields[wanted] = read_field(self.folder / "fields" / wanted, wanted)
        return self._fields[wanted]

    def add_field(self, model, labels: FieldLabels, info: dict, prompt_embeds: torch.Tensor) -> None:
        """Hold a field being built (no fusion yet: [`evidence`] is what its fit needs), with its zero-shot
        classifier, and list it in the manifest."""
        self.manifest["fields"][labels.name] = {"kind": labels.kind, "labels": len(labels.ids)}
        self._fields[labels.name] = (labels, None, info)
        self._classifiers[labels.name] = ZeroShotClassifier.build(
            model, None, labels.names, labels.prompts, model_training_texts(model), prompt_embeds=prompt_embeds)

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
        return search_reference(sequences, embeddings, self.folder / "proteins.fasta", self.index,
                                self.manifest["settings"], threads=threads, workdir=workdir)

    def cross_fit_lookup(self, clusters: Sequence, proteins: int = 5000, folds: int = 5, seed: int = 0,
                         threads: int | None = None, workdir: str | Path | None = None) -> tuple[np.ndarray, Lookup]:
        """Reference proteins looked up from families the reference lacks ([`cross_fit_lookup`]): `(rows, lookup)`.
        """
        count = self.manifest["proteins"]
        if len(clusters) != count:
            raise ValueError(f"{len(clusters)} cluster ids for a reference of {count} proteins")
        return cross_fit_lookup(self.folder, self.index, self.manifest["settings"], clusters, proteins, folds, seed,
                                threads=threads, workdir=workdir)

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

    def fields(self, names: Sequence[str]) -> list[str]:
        """The reference's names of the fields asked (`all`: every field it holds), in the order asked, each once;
        a field it lacks is an error naming the ones it has."""
        if list(names) == ["all"]:
            return self.field_names
        return list(dict.fromkeys(self.field(name)[0].name for name in names))

    def annotate_fields(self, model, processor, records: Iterable[tuple[str, str]], fields: Sequence[str],
                        chunk_size: int = 1000, dtype: str | None = None, threads: int | None = None,
                        check_model: bool = True,
                        ) -> Iterator[tuple[list[str], dict[str, tuple[np.ndarray, dict, np.ndarray]]]]:
        """Fused scores of several fields for `(id, sequence)` records, `chunk_size` proteins at a time, each chunk
        embedded and searched once for all of them: yields `(ids, {field: (scores (chunk, labels) float32 in [0, 1],
        evidence, bins, supporters)})` ([`Supporters`]: the reference protein behind a label). Records must be
        clean ([`clean_records`])."""
        if check_model:
            self.check_model(model)
        fusions = {name: self.field(name)[1] for name in self.fields(fields)}
        for batch in iter_chunks(records, chunk_size):
            ids, sequences = [i for i, _ in batch], [s for _, s in batch]
            lookup = self.lookup(model, processor, sequences, dtype=dtype, threads=threads)
            scored = {}
            for name, fusion in fusions.items():
                evidence, bins = self.evidence(model, lookup, name)
                scored[name] = (fusion.fuse(evidence, bins), evidence, bins, self.supporters(lookup, name))
            yield ids, scored

    def annotate(self, model, processor, records: Iterable[tuple[str, str]], field: str, chunk_size: int = 1000,
                 dtype: str | None = None, threads: int | None = None, check_model: bool = True,
                 ) -> Iterator[tuple[list[str], np.ndarray, dict[str, np.ndarray], np.ndarray, Supporters]]:
        """Fused scores of one `field` ([`annotate_fields`]): yields `(ids, scores, evidence, bins, supporters)`."""
        name = self.fields([field])[0]
        for ids, scored in self.annotate_fields(model, processor, records, [name], chunk_size, dtype, threads,
                                                check_model):
            yield (ids, *scored[name])


__all__ = ["AnnotationReference", "MismatchedReferenceModelError"]
