"""The text of a pretraining row and its identity: one definition for the collator, the batches, validation, the
text bank and the frequency counts."""

import json

from ..models.protst.processing_protst import TEXT_FIELDS


def row_text(row: dict, fields: tuple[str, ...] = TEXT_FIELDS) -> dict | str:
    """The text of a pretraining row: its `text` column when that is a non-empty string, else its ProtDescribe
    fields (a missing or empty field is `""`). The one definition that training, validation and the text bank use."""
    return row["text"] if row.get("text") else {f: row.get(f) or "" for f in fields}


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


__all__ = ["row_text", "text_key", "text_of_key"]
