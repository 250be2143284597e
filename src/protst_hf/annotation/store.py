"""The reference folder's format: what each file holds, its reader and writer in one place (one codec per stored
format), with a format version, and its card.

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

A build killed midway leaves no `reference.json`: [`read_manifest`] refuses the folder, and the same build command
resumes it (complete embedding shards are kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data.files import atomic_open, write_atomic
from ..models.protst.index_protst import model_display_name
from .evidence import LabelTable
from .fields import SINGLE_LABEL, FieldLabels
from .fusion import Fusion

REFERENCE_FILE = "reference.json"
FORMAT_VERSION = 1


class IncompleteReferenceError(ValueError):
    """A reference folder without its completion mark (a build that was killed, or is still running)."""


def read_manifest(folder: Path) -> dict:
    """`reference.json` of a finished reference; an unfinished one or another format version is refused."""
    mark = folder / REFERENCE_FILE
    if not mark.is_file():
        raise IncompleteReferenceError(
            f"{folder} is not a complete annotation reference (no {REFERENCE_FILE}): its build was killed or is "
            "still running. Rerun the same `protst reference build` command to resume it.")
    manifest = json.loads(mark.read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder}: reference format {manifest.get('format')!r}, this version reads {FORMAT_VERSION}")
    return manifest


def write_manifest(folder: Path, manifest: Mapping) -> None:
    """The card, then `reference.json` (the completion mark) last."""
    (folder / "README.md").write_text(reference_card(manifest))
    write_atomic(folder / REFERENCE_FILE, json.dumps({"format": FORMAT_VERSION, **manifest}, indent=2) + "\n")


def write_proteins(folder: Path, proteins: Sequence[tuple[str, str]]) -> None:
    """`proteins.fasta` (kept when present: a resumed build) and `proteins.tsv`."""
    if not (folder / "proteins.fasta").exists():
        with atomic_open(folder / "proteins.fasta") as out:
            out.writelines(f">{row}\n{sequence}\n" for row, (_, sequence) in enumerate(proteins))
    write_atomic(folder / "proteins.tsv",
                 "row\taccession\n" + "".join(f"{row}\t{a}\n" for row, (a, _) in enumerate(proteins)))


def read_field(folder: Path, name: str) -> tuple[FieldLabels, Fusion, dict]:
    """A field's labels, fitted fusion and description (`field.json`)."""
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


def write_field(folder: Path, labels: FieldLabels, prompt_embeds: np.ndarray, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id\tname\tparents"] + [f"{i}\t{n}\t{';'.join(map(str, p))}" for i, n, p in
                                      zip(labels.ids, labels.names, labels.parents)]
    write_atomic(folder / "labels.tsv", "\n".join(lines) + "\n")
    np.savez(folder / "members.npz", indptr=labels.table.indptr, indices=labels.table.indices)
    np.save(folder / "prompts.npy", prompt_embeds.astype(np.float32))
    write_atomic(folder / "field.json", json.dumps({"kind": labels.kind, "prompts": labels.prompts, **info},
                                                   indent=1) + "\n")


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
             f"{manifest['proteins']:,} labelled proteins embedded with "
             f"`{model_display_name(manifest['model'])}` (weights "
             f"`{manifest['model_fingerprint']}`), searchable by MMseqs2 and in embedding space, with the fusion of "
             "homology (DiamondScore, and the best hit's labels scored by its identity), embedding neighbours, the "
             "model's zero-shot scores and the label frequencies fitted per "
             f"identity bin on {_fitted_on(manifest)}.", "",
             "```bash", "protst annotate proteins.fasta --reference THIS_FOLDER --field FIELD --output scores.tsv",
             "```", "", "| field | kind | labels |", "|---|---|---|"]
    lines += [f"| {name} | {f['kind']} | {f['labels']:,} |" for name, f in manifest["fields"].items()]
    return "\n".join(lines) + "\n"


__all__ = ["FORMAT_VERSION", "REFERENCE_FILE", "IncompleteReferenceError", "read_field",
           "read_manifest", "reference_card", "write_field", "write_manifest", "write_proteins"]
