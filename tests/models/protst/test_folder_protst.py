"""The folder protocol (folder_protst.HubFolderMixin) shared by the index, the annotation reference and embedding
folders: the marker is written last, an unfinished folder or a later format version is refused, folders of the
first release still read, and each card comes from its `model_cards/` template, naming the model by Hub id or folder
name and the repository it is pushed to."""

import json

import numpy as np
import pytest

from protst_hf.annotation.store import ReferenceFolder
from protst_hf.embedding.shards import EmbeddingFolder, build_index
from protst_hf.models.protst.folder_protst import (
    IncompleteFolderError,
    atomic_open,
    card_template,
    model_display_name,
    size_category,
)
from protst_hf.models.protst.index_protst import ProteinIndex


def _embeddings(folder, model):
    folder.mkdir()
    vectors = np.eye(4, dtype=np.float32)[:3]
    np.save(folder / "embeddings-00000.npy", vectors)
    (folder / "ids-00000.txt").write_text("P1\nP2\nP3\n")
    EmbeddingFolder.write_marker(folder, {"model": model, "model_fingerprint": "abc", "embedding": "protein",
                                          "normalized": True, "format": "npy", "shards": 1})
    return folder


def test_model_names_and_size_categories():
    assert model_display_name("./outputs/model") == "model"
    assert model_display_name("org/protst-esm2") == "org/protst-esm2"
    assert [size_category(n) for n in (3, 1_000, 99_999, 5_000_000, 10**8)] == \
        ["n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M", "n>10M"]
    assert card_template("index_card.md").is_file() and card_template("no_such_card.md") is None


def test_every_kind_refuses_an_unfinished_folder_and_a_later_version(tmp_path):
    for kind, hint in ((ProteinIndex, ""), (ReferenceFolder, "Rerun the same `protst reference build`"),
                       (EmbeddingFolder, "Rerun the same `protst embed`")):
        folder = tmp_path / kind.__name__
        folder.mkdir()
        with pytest.raises(IncompleteFolderError, match=f"not a complete {kind.KIND}.*{hint}"):
            kind.read_marker(folder)
        (folder / kind.MARKER).write_text(json.dumps({"format_version": 2, "shards": 0}))
        with pytest.raises(ValueError, match=f"{kind.KIND} format 2, this version of protst-hf reads up to 1"):
            kind.read_marker(folder)
        (folder / kind.MARKER).write_text(json.dumps({"shards": 0}))  # before the version field: version 1
        assert kind.read_marker(folder) == {"shards": 0}
    # a reference of the first release wrote its version as "format"
    (tmp_path / "ReferenceFolder" / "reference.json").write_text(json.dumps({"format": 1, "proteins": 2}))
    assert ReferenceFolder.read_marker(tmp_path / "ReferenceFolder") == {"proteins": 2}
    (tmp_path / "ReferenceFolder" / "reference.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        ReferenceFolder.read_marker(tmp_path / "ReferenceFolder")


def test_cards_come_from_templates_and_name_models_by_folder_name(tmp_path):
    model = tmp_path / "models" / "protst-go"
    model.mkdir(parents=True)
    embeddings = _embeddings(tmp_path / "embeddings", str(model))
    card = (embeddings / "README.md").read_text()
    assert "3 protein embeddings" in card and "`protst-go`" in card and str(tmp_path) not in card
    assert "size_categories:\n- n<1K" in card and "--embeddings ORG/NAME" in card
    index = build_index(embeddings)
    assert len(index) == 3 and index.metadata["model"] == str(model)
    index.save(tmp_path / "index")
    card = (tmp_path / "index" / "README.md").read_text()
    assert "index of 3 protein embeddings" in card and "`protst-go`" in card and str(tmp_path) not in card
    assert 'index="ORG/NAME"' in card and "exact inner product" in card
    assert 'index="org/idx"' in ProteinIndex.render_card(tmp_path / "index", ProteinIndex.read_marker(
        tmp_path / "index"), "org/idx")
    marker = {"proteins": 1234, "model": str(model), "model_fingerprint": "abc",
              "fields": {"go_mf": {"kind": "multi_label", "labels": 4321}},
              "build": {"fitted_on": {"method": "cross-fitted reference proteins", "proteins": 1234, "folds": 5,
                                      "clusters": 900}}}
    card = ReferenceFolder.render_card(tmp_path, marker, "org/ref")
    assert "1,234 labelled proteins" in card and "`protst-go`" in card and str(tmp_path) not in card
    assert "| go_mf | multi_label | 4,321 |" in card and "--reference org/ref" in card
    assert "5 folds of their 900 clusters" in card


def test_the_marker_is_last_and_a_failed_write_leaves_nothing(tmp_path):
    index = ProteinIndex.build(iter([(["a", "b"], np.eye(2, dtype=np.float32))]))
    folder = index.save(tmp_path / "index")
    assert ProteinIndex.load(folder).ids == ["a", "b"]
    (folder / "index.faiss").write_bytes(b"")  # an overwrite that dies before its marker leaves no finished folder
    with pytest.raises(RuntimeError), atomic_open(folder / "ids.txt") as f:
        f.write("partial")
        raise RuntimeError("killed")
    assert (folder / "ids.txt").read_text() == "a\nb\n" and not list(folder.glob("*.tmp-*"))
