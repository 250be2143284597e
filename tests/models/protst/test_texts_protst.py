"""The texts of ProtST (texts_protst.py): the key of a training text and its statements, the vocabulary of fields,
GO namespaces; and the record a saved model keeps of them (prompts_protst.write_training_texts / field_template)."""

import json
from collections import Counter

import pytest

from protst_hf.models.protst.prompts_protst import (
    field_template,
    read_training_texts,
    statement_counts,
    write_training_texts,
)
from protst_hf.models.protst.texts_protst import (
    GO_NAMESPACES,
    TEXT_FIELDS,
    go_annotation,
    go_namespace,
    key_statements,
    key_text,
    key_units,
    parse_go_annotation,
    resolve_field,
    statement_field,
    text_field,
    text_key,
)

# the default ProtDescribe text: four fields, three with their Swiss-Prot heading (as protdescribe_row keeps them)
FOUR_FIELDS = {"prot_name": "Lysozyme C (EC 3.2.1.17)",
               "function": "FUNCTION: Lysozymes have primarily a bacteriolytic function. Binds peptidoglycan.",
               "subloc": "SUBCELLULAR LOCATION: Secreted. Cytoplasm.",
               "similarity": "SIMILARITY: Belongs to the glycosyl hydrolase 22 family."}


def test_a_four_field_key_round_trips_and_reads_as_its_statements():
    key = text_key(FOUR_FIELDS)
    assert json.loads(key) == FOUR_FIELDS and key_text(key) == FOUR_FIELDS
    assert key == text_key(dict(reversed(FOUR_FIELDS.items())))  # one key whatever the field order
    assert key_statements(key) == [
        "Lysozyme C (EC 3.2.1.17)",
        "FUNCTION: Lysozymes have primarily a bacteriolytic function.", "FUNCTION: Binds peptidoglycan.",
        "SUBCELLULAR LOCATION: Secreted.", "SUBCELLULAR LOCATION: Cytoplasm.",
        "SIMILARITY: Belongs to the glycosyl hydrolase 22 family."]
    assert key_units(key) == [key]  # a mapping is one unit of statement-level training (its layout is 4-field)
    # a missing field is empty; a string is its own key, even one that looks like JSON of something else
    assert json.loads(text_key({"subloc": "SUBCELLULAR LOCATION: Nucleus."}))["prot_name"] == ""
    assert key_text('{"not": "fields"}') == '{"not": "fields"}' and key_text("{broken") == "{broken"
    assert key_units("SUBCELLULAR LOCATION: Nucleus. Nucleus. Cytoplasm.") == [
        "SUBCELLULAR LOCATION: Nucleus.", "SUBCELLULAR LOCATION: Cytoplasm."]
    with pytest.raises(ValueError, match="unknown text field"):
        text_key({"location": "Nucleus"})


def test_a_model_trained_on_four_field_texts_records_the_templates_of_its_fields(tmp_path):
    """The default ProtDescribe text used to record no template at all (its key is JSON): `--field
    subcellular_location` failed on the main job's model."""
    counts = Counter({text_key(FOUR_FIELDS): 3, text_key({**FOUR_FIELDS, "subloc": ""}): 2})
    record = read_training_texts(write_training_texts(tmp_path, counts, "in_batch"))
    assert record["templates"] == {"function": "FUNCTION: {}.", "similarity": "SIMILARITY: {}.",
                                   "subcellular_location": "SUBCELLULAR LOCATION: {}."}
    assert field_template(record, "subcellular_location") == "SUBCELLULAR LOCATION: {}."
    assert field_template(record, "subloc") == "SUBCELLULAR LOCATION: {}."  # by ProtDescribe column too
    assert statement_counts(record)["subcellular location: secreted"] == 3
    with pytest.raises(ValueError) as err:
        field_template(record, "go_function")
    message = str(err.value)
    assert "'go_function' ('molecular_function')" in message
    assert "function, similarity, subcellular_location" in message and "'MOLECULAR FUNCTION: {}.'" in message
    with pytest.raises(ValueError, match="none recorded.*'SUBCELLULAR LOCATION: {}.'"):
        field_template(None, "subloc")


def test_statement_units_of_go_texts_are_recorded_as_single_statements(tmp_path):
    go = "MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL PROCESS: DNA repair."
    counts = Counter({go: 2, "MOLECULAR FUNCTION: ATP binding.": 1})
    record = read_training_texts(write_training_texts(tmp_path, counts, "text_bank", text_unit="statement"))
    assert record["texts"] == {"MOLECULAR FUNCTION: ATP binding.": 3, "MOLECULAR FUNCTION: DNA binding.": 2,
                               "BIOLOGICAL PROCESS: DNA repair.": 2}
    assert record["rows"] == 3
    assert record["templates"] == {"biological_process": "BIOLOGICAL PROCESS: {}.",
                                   "molecular_function": "MOLECULAR FUNCTION: {}."}


def test_one_vocabulary_of_fields():
    for column, name in (("subloc", "subcellular_location"), ("go_function", "molecular_function"),
                         ("go_process", "biological_process"), ("go_component", "cellular_component"),
                         ("function", "function"), ("similarity", "similarity"), ("prot_name", "protein_name")):
        assert resolve_field(column) == resolve_field(name) == name
        assert text_field(column).column == column
    assert resolve_field("SUBCELLULAR LOCATION") == "subcellular_location"
    assert resolve_field("CATALYTIC ACTIVITY") == "catalytic_activity" and text_field("catalytic_activity") is None
    assert text_field("subloc").template == "SUBCELLULAR LOCATION: {}." and text_field("prot_name").template == "{}"
    assert statement_field("MOLECULAR FUNCTION: ATP binding.") == "molecular_function"
    assert statement_field("Lysozyme C") is None
    assert {f.column for f in map(text_field, TEXT_FIELDS)} == set(TEXT_FIELDS)
    with pytest.raises(ValueError):
        resolve_field(" ")


def test_go_namespaces_and_the_one_parser_of_annotated_ids():
    mf = go_namespace("molecular_function")
    assert (mf.aspect, mf.root, mf.short, mf.annotation_column, mf.text_column) == (
        "F", "GO:0003674", "MF", "go_mf", "go_function")
    assert mf.field.heading == "MOLECULAR FUNCTION"
    assert all(go_namespace(key) is mf for key in ("F", "MF", "go_mf", "go_function"))
    assert [n.short for n in GO_NAMESPACES] == ["MF", "BP", "CC"]
    assert parse_go_annotation("C:GO:0005737") == (go_namespace("C"), "GO:0005737")
    assert go_annotation(*parse_go_annotation("P:GO:0006281")) == "P:GO:0006281"
    for bad in ("GO:0005737", "X:GO:0005737", "F:GO:12", "F:0005737"):
        with pytest.raises(ValueError):
            parse_go_annotation(bad)
