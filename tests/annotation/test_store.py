"""The reference folder's format (annotation/store.py): its card, as an index's, names the model by Hub id or folder
name, never by the local path of the machine that built it, and a folder of another format version is refused."""

import json

import pytest

from protst_hf.annotation.store import ReferenceFolder
from protst_hf.models.protst.folder_protst import IncompleteFolderError
from protst_hf.models.protst.index_protst import ProteinIndex


def test_the_card_names_a_model_by_hub_id_or_folder_name(tmp_path):
    folder = tmp_path / "models" / "protst-go"
    folder.mkdir(parents=True)
    manifest = {"proteins": 3, "model": str(folder), "model_fingerprint": "abc", "fields": {}}
    card = ReferenceFolder.render_card(tmp_path, manifest)
    assert "`protst-go`" in card and str(tmp_path) not in card
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    card = ProteinIndex.render_card(tmp_path, {"model": str(folder), "dim": 8, "kind": "flat"})
    assert "`protst-go`" in card and str(tmp_path) not in card


def test_an_unfinished_or_other_format_reference_is_refused(tmp_path):
    with pytest.raises(IncompleteFolderError, match="Rerun the same"):
        ReferenceFolder.read_marker(tmp_path)
    (tmp_path / "reference.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="annotation reference format 99"):
        ReferenceFolder.read_marker(tmp_path)
