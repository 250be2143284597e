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

The folder protocol (marker written last, format version, card from `model_cards/reference_card.md`, load from a
folder or the Hub, push) is [`ReferenceFolder`]'s, shared with the index and embedding folders. A build killed
midway leaves no `reference.json`: the folder is refused, and the same build command resumes it (complete embedding
shards are kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..models.protst.folder_protst import HubFolderMixin, atomic_open, model_display_name, size_category, write_atomic
from .evidence import LabelTable
from .fields import SINGLE_LABEL, FieldLabels
from .fusion import Fusion

REFERENCE_FILE = "reference.json"
FORMAT_VERSION = 1


class ReferenceFolder(HubFolderMixin):
    """The reference folder's protocol: `reference.json` is its marker (what it holds: model, fields, counts, build
    report), written last."""

    MARKER, FORMAT_VERSION, CARD_TEMPLATE, KIND = REFERENCE_FILE, FORMAT_VERSION, "reference_card.md", \
        "annotation reference"
    DOWNLOAD_IGNORE = ("embeddings/*",)
    RESUME_HINT = "Rerun the same `protst reference build` command to resume it."
    LEGACY_VERSION_KEY = "format"  # folders of the first release

    @classmethod
    def card_variables(cls, folder: Path, marker: dict, repo_id: str) -> dict:
        return {"card_data": {"tags": ["protst-hf", "protein-function-annotation"],
                              "size_categories": [size_category(marker["proteins"])]},
                "proteins": f"{marker['proteins']:,}", "model": model_display_name(marker["model"]),
                "fingerprint": marker["model_fingerprint"], "fitted_on": _fitted_on(marker),
                "fields": marker["fields"], "labels": marker.get("labels")}


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


__all__ = ["FORMAT_VERSION", "REFERENCE_FILE", "ReferenceFolder", "read_field", "write_field", "write_proteins"]
