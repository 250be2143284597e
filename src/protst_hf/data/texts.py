"""The text of a pretraining row and its identity: one definition for the collator, the batches, validation, the
text bank and the frequency counts."""

import json

from ..models.protst.processing_protst import TEXT_FIELDS

# A GO build's texts (`gene_ontology.py`): per namespace, the names of the protein's terms joined by "; ", and the
# heading each namespace gets in the row's text, in the layout of Swiss-Prot's topics ("SUBCELLULAR LOCATION: ...")
GO_TEXT_HEADINGS = {"go_function": "MOLECULAR FUNCTION", "go_process": "BIOLOGICAL PROCESS",
                    "go_component": "CELLULAR COMPONENT"}
GO_TEXT_COLUMNS = tuple(GO_TEXT_HEADINGS)
GO_NAME_SEPARATOR = "; "
# every column a row's text can come from
TEXT_SOURCES = ("text", *TEXT_FIELDS, *GO_TEXT_COLUMNS)


def go_text(row: dict) -> str:
    """The GO layout of a row's GO name columns: `"MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL
    PROCESS: DNA repair."` (namespaces without a name left out; `""` when there is none). Each name is one statement
    of the text (`processing_protst.text_parts`), so that a single term's prompt, `"MOLECULAR FUNCTION: ATP
    binding."`, is worded as training worded it."""
    sections = []
    for column, heading in GO_TEXT_HEADINGS.items():
        names = [n.strip() for n in (row.get(column) or "").split(GO_NAME_SEPARATOR) if n.strip()]
        if names:
            sections.append(f"{heading}: " + ". ".join(name.rstrip(".") for name in names) + ".")
    return " ".join(sections)


def row_text(row: dict, fields: tuple[str, ...] = TEXT_FIELDS) -> dict | str:
    """The text of a pretraining row: its `text` column when that is a non-empty string; else its ProtDescribe
    fields when one of them is non-empty (a missing or empty field is `""`); else its GO names in the GO layout
    ([`go_text`]) when it has any (a GO build); else the empty fields. The one definition that training,
    validation and the text bank use."""
    if row.get("text"):
        return row["text"]
    values = {f: row.get(f) or "" for f in fields}
    if not any(values.values()) and any(row.get(c) for c in GO_TEXT_COLUMNS):
        return go_text(row)
    return values


def text_key(text: dict | str) -> str:
    """The identity of a text (a string, or a mapping of fields), as texts are compared and counted."""
    return text if isinstance(text, str) else json.dumps({f: text.get(f) or "" for f in TEXT_FIELDS}, sort_keys=True)


def text_of_key(key: str) -> dict | str:
    """The text whose [`text_key`] is `key`."""
    if key.startswith("{"):
        try:
            value = json.loads(key)
        except json.JSONDecodeError:
            return key
        if isinstance(value, dict) and set(value) <= set(TEXT_FIELDS):
            return value
    return key


__all__ = ["GO_TEXT_COLUMNS", "GO_TEXT_HEADINGS", "TEXT_SOURCES", "go_text", "row_text", "text_key", "text_of_key"]
