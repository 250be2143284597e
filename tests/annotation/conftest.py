"""Fixtures of the annotation tests, built once for the package: the GO fixture's ontology and ProtDescribe build,
and a reference of its train split embedded with the tiny model."""

import pytest

from protst_hf.annotation import build_reference
from utils.go_reference import go_ontology, go_splits, reference_inputs


@pytest.fixture(scope="package")
def ontology():
    return go_ontology()


@pytest.fixture(scope="package")
def go_build(tmp_path_factory, ontology):
    return go_splits(tmp_path_factory.mktemp("go") / "protdescribe", ontology)


@pytest.fixture(scope="package")
def reference(tmp_path_factory, go_build, ontology, model, processor):
    proteins, fields, _, validation, labels = reference_inputs(go_build, ontology)
    folder = tmp_path_factory.mktemp("reference") / "ref"
    build_reference(folder, model, processor, proteins, fields, validation, labels, model_name="tiny",
                    progress=False)
    return folder
