"""The reference folder's format (annotation/store.py): its card, as an index's, names the model by Hub id or folder
name, never by the local path of the machine that built it, and a folder of another format version is refused."""

import json

import pytest

from protst_hf.annotation.store import IncompleteReferenceError, read_manifest, reference_card
from protst_hf.models.protst.index_protst import index_card, model_display_name


def test_the_card_names_a_model_by_hub_id_or_folder_name(tmp_path):
    folder = tmp_path / "models" / "protst-go"
    folder.mkdir(parents=True)
    assert model_display_name(str(folder)) == "protst-go"
    assert model_display_name("./outputs/model") == "model"
    assert model_display_name("org/protst-esm2") == "org/protst-esm2"
    manifest = {"proteins": 3, "model": str(folder), "model_fingerprint": "abc", "fields": {}}
    card = reference_card(manifest)
    assert "`protst-go`" in card and str(tmp_path) not in card
    card = index_card({"model": str(folder), "dim": 8, "kind": "flat"}, 3)
    assert "`protst-go`" in card and str(tmp_path) not in card


def test_an_unfinished_or_other_format_reference_is_refused(tmp_path):
    with pytest.raises(IncompleteReferenceError, match="Rerun the same"):
        read_manifest(tmp_path)
    (tmp_path / "reference.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="reference format 99"):
        read_manifest(tmp_path)
