"""The text of a pretraining row: one definition for the collator, the batches, validation, the text bank and the
frequency counts. How a text is keyed, split into statements and named by field lives with the model
(`models/protst/texts_protst.py`), which saved folders carry."""

from ..models.protst.texts_protst import GO_NAMESPACES, TEXT_FIELDS

# A GO build's texts (`gene_ontology.py`): per namespace, the names of the protein's terms joined by "; ", worded
# under the namespace's heading in the layout of Swiss-Prot's topics ("MOLECULAR FUNCTION: ...")
GO_TEXT_COLUMNS = tuple(namespace.text_column for namespace in GO_NAMESPACES)
GO_NAME_SEPARATOR = "; "
# every column a row's text can come from
TEXT_SOURCES = ("text", *TEXT_FIELDS, *GO_TEXT_COLUMNS)


def go_text(row: dict) -> str:
    """The GO layout of a row's GO name columns: `"MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL
    PROCESS: DNA repair."` (namespaces without a name left out; `""` when there is none). Each name is one statement
    of the text (`texts_protst.text_parts`), so that a single term's prompt, `"MOLECULAR FUNCTION: ATP binding."`,
    is worded as training worded it.

    Args:
        row: a ProtDescribe row (its `go_function`, `go_process`, `go_component` columns are read).
    """
    sections = []
    for namespace in GO_NAMESPACES:
        names = [n.strip() for n in (row.get(namespace.text_column) or "").split(GO_NAME_SEPARATOR) if n.strip()]
        if names:
            sections.append(f"{namespace.field.heading}: " + ". ".join(name.rstrip(".") for name in names) + ".")
    return " ".join(sections)


def row_text(row: dict, fields: tuple[str, ...] = TEXT_FIELDS) -> dict | str:
    """The text of a pretraining row: its `text` column when that is a non-empty string; else its ProtDescribe
    fields when one of them is non-empty (a missing or empty field is `""`); else its GO names in the GO layout
    ([`go_text`]) when it has any (a GO build); else the empty fields. The one definition that training,
    validation and the text bank use.

    Args:
        row: a row of a pretraining dataset.
        fields: the ProtDescribe fields a mapping text is made of (the original's four by default).
    """
    if row.get("text"):
        return row["text"]
    values = {f: row.get(f) or "" for f in fields}
    if not any(values.values()) and any(row.get(c) for c in GO_TEXT_COLUMNS):
        return go_text(row)
    return values


__all__ = ["GO_NAME_SEPARATOR", "GO_TEXT_COLUMNS", "TEXT_SOURCES", "go_text", "row_text"]
