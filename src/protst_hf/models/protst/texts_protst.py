"""The texts ProtST is trained on and prompted with: the vocabulary of text fields, the statements of a text, and the
key that identifies a training text.

- **Fields.** A text field has two names: its ProtDescribe column (`subloc`, `go_function`) and the slug of the
  heading its statements carry (`subcellular_location`, `molecular_function`: "SUBCELLULAR LOCATION: Nucleus.").
  [`TEXT_FIELD_TABLE`] maps them; [`resolve_field`] accepts either. The GO namespaces are one named type,
  [`GONamespace`], and an annotated GO id ("F:GO:0005524") has one parser, [`parse_go_annotation`].
- **Statements.** Swiss-Prot words a topic as `HEADING: statement. statement.`; [`text_parts`] splits a text into
  single statements, each with its heading.
- **Keys.** A training text is a string or a mapping of the four ProtDescribe fields (the original's layout,
  `[CLS] name [SEP] function [SEP] location [SEP] similarity`). [`text_key`] turns either into one string (a mapping
  becomes the JSON of its fields), [`key_text`] turns it back, [`key_statements`] lists every statement a key makes
  and [`key_units`] the units statement-level training pairs a protein with. Every reader of training texts (the
  record of a saved model, the prior, the text bank, the collator, the templates of `field=`) goes through these.

This file is shipped to the Hub with saved models: it imports nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

# the four ProtDescribe text fields, in the order the original joins them
TEXT_FIELDS = ("prot_name", "function", "subloc", "similarity")


@dataclass(frozen=True)
class TextField:
    """A text field: its ProtDescribe `column`, the `name` users give to `field=` (the slug of its heading), and the
    `heading` its statements start with (None for protein names, which carry none)."""

    column: str
    name: str
    heading: str | None

    @property
    def template(self) -> str:
        """The prompt of one label of this field, as its training texts word a statement: `"SUBCELLULAR LOCATION:
        {}."`; `"{}"` for a field without a heading."""
        return f"{self.heading}: {{}}." if self.heading else "{}"


# the text fields of ProtDescribe builds: UniProt's four, then the GO names per namespace (`gene_ontology.py`)
TEXT_FIELD_TABLE = (
    TextField("prot_name", "protein_name", None),
    TextField("function", "function", "FUNCTION"),
    TextField("subloc", "subcellular_location", "SUBCELLULAR LOCATION"),
    TextField("similarity", "similarity", "SIMILARITY"),
    TextField("go_function", "molecular_function", "MOLECULAR FUNCTION"),
    TextField("go_process", "biological_process", "BIOLOGICAL PROCESS"),
    TextField("go_component", "cellular_component", "CELLULAR COMPONENT"),
)


def heading_name(heading: str) -> str:
    """The field name of a statement heading: `"SUBCELLULAR LOCATION"` -> `"subcellular_location"` (any heading, known
    to [`TEXT_FIELD_TABLE`] or not: "CATALYTIC ACTIVITY" -> "catalytic_activity")."""
    return "_".join(heading.lower().split())


def resolve_field(field: str) -> str:
    """The field name (heading slug) of `field` given by ProtDescribe column (`"subloc"`, `"go_function"`), by name
    (`"subcellular_location"`) or by heading (`"SUBCELLULAR LOCATION"`). A name outside the table is returned as its
    slug: texts may carry other headings.

    Args:
        field: the field as a user names it.

    Returns:
        the name under which a model's training record lists the field's template.
    """
    if not isinstance(field, str) or not field.strip():
        raise ValueError(f"a text field is a non-empty string, got {field!r}")
    for entry in TEXT_FIELD_TABLE:
        if field in (entry.column, entry.name) or (entry.heading and field.strip().upper() == entry.heading):
            return entry.name
    return heading_name(field.strip())


def text_field(name: str) -> TextField | None:
    """The table's entry of a field (by column, name or heading), None for a field outside it."""
    name = resolve_field(name)
    return next((entry for entry in TEXT_FIELD_TABLE if entry.name == name), None)


@dataclass(frozen=True)
class GONamespace:
    """A GO namespace: its `name` (`molecular_function`), the `aspect` letter of annotated ids (`F` in
    `F:GO:0003674`), its `root` term, the column of GO annotation tables (`go_mf`) and the ProtDescribe text column of
    its term names (`go_function`)."""

    name: str
    aspect: str
    root: str
    annotation_column: str
    text_column: str

    @property
    def short(self) -> str:
        """MF, BP or CC."""
        return "".join(word[0] for word in self.name.split("_")).upper()

    @property
    def field(self) -> TextField:
        return next(entry for entry in TEXT_FIELD_TABLE if entry.column == self.text_column)


GO_NAMESPACES = (
    GONamespace("molecular_function", "F", "GO:0003674", "go_mf", "go_function"),
    GONamespace("biological_process", "P", "GO:0008150", "go_bp", "go_process"),
    GONamespace("cellular_component", "C", "GO:0005575", "go_cc", "go_component"),
)


def go_namespace(key: str) -> GONamespace:
    """The namespace named by `key`: its name, aspect letter, short name (MF), either column, or field name."""
    for namespace in GO_NAMESPACES:
        if key in (namespace.name, namespace.aspect, namespace.short, namespace.annotation_column,
                   namespace.text_column):
            return namespace
    raise ValueError(f"unknown GO namespace {key!r}; namespaces: {', '.join(n.name for n in GO_NAMESPACES)}")


def parse_go_annotation(value: str) -> tuple[GONamespace, str]:
    """`"F:GO:0005524"` (the `go_terms` of a ProtDescribe row) -> (the molecular-function namespace, `"GO:0005524"`).

    Raises:
        `ValueError` for a value that is not `ASPECT:GO:nnnnnnn`.
    """
    aspect, colon, term = str(value).partition(":")
    if not colon or not (term.startswith("GO:") and len(term) == 10 and term[3:].isdigit()):
        raise ValueError(f"not an annotated GO id (ASPECT:GO:nnnnnnn): {value!r}")
    return go_namespace(aspect), term


def go_annotation(namespace: GONamespace, term: str) -> str:
    """The inverse of [`parse_go_annotation`]: `"F:GO:0005524"`."""
    return f"{namespace.aspect}:{term}"


def is_heading(words: str) -> bool:
    """A Swiss-Prot topic heading: upper-case words ("SUBCELLULAR LOCATION", "MOLECULAR FUNCTION")."""
    return bool(words) and words.upper() == words and any(c.isalpha() for c in words) and \
        all(c.isalpha() or c == " " for c in words)


def text_parts(text: str) -> list[str]:
    """The statements of a Swiss-Prot style text, each as a text of its own with its topic's heading:
    `"SUBCELLULAR LOCATION: Cytoplasm. Nucleus."` -> `["SUBCELLULAR LOCATION: Cytoplasm.",
    "SUBCELLULAR LOCATION: Nucleus."]`. A text may hold several topics, each starting `HEADING: ` after a statement
    (`"MOLECULAR FUNCTION: ATP binding. BIOLOGICAL PROCESS: DNA repair."`: two parts). A text without a `HEADING: `
    prefix, or with one statement, is its own only part. Statements are split at `". "`; each part ends with one
    `"."`. Used to read a multi-location (or multi-term) text as the union of its single statements: the soft
    targets of the text bank, statement-level training (`text_unit="statement"`) and the class prior of zero-shot
    classification.

    Example:

    ```python
    >>> text_parts("SUBCELLULAR LOCATION: Cytoplasm. Nucleus.")
    ['SUBCELLULAR LOCATION: Cytoplasm.', 'SUBCELLULAR LOCATION: Nucleus.']
    ```
    """
    heading, colon, body = text.partition(": ")
    if not colon or not is_heading(heading):
        return [text]
    parts, statements = [], []
    for piece in body.strip().split(". "):
        piece = piece.strip().rstrip(".").strip()
        next_heading, next_colon, rest = piece.partition(": ")
        if statements and next_colon and is_heading(next_heading):
            parts += [f"{heading}: {s}." for s in statements]
            heading, statements, piece = next_heading, [], rest.strip()
        if piece:
            statements.append(piece)
    parts += [f"{heading}: {s}." for s in statements]
    return parts if len(parts) > 1 else [text]


def statement_field(statement: str) -> str | None:
    """The field name of a statement's heading (`"SUBCELLULAR LOCATION: Nucleus."` -> `"subcellular_location"`), None
    for a statement without one."""
    heading, colon, _ = statement.partition(": ")
    return heading_name(heading) if colon and is_heading(heading) else None


def text_key(text: Mapping | str) -> str:
    """The key of a training text, as texts are compared, counted and recorded: a string is its own key; a mapping
    of ProtDescribe fields is the JSON of the four fields (sorted keys, a missing field `""`).

    Args:
        text: a string, or a mapping with keys among `TEXT_FIELDS`.
    """
    if isinstance(text, str):
        return text
    unknown = set(text) - set(TEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown text field(s) {sorted(unknown)}; fields are {TEXT_FIELDS}")
    return json.dumps({f: text.get(f) or "" for f in TEXT_FIELDS}, sort_keys=True)


def key_text(key: str) -> dict | str:
    """The text whose [`text_key`] is `key`: a mapping of the four fields for the JSON of one, else the string."""
    if key.startswith("{"):
        try:
            value = json.loads(key)
        except json.JSONDecodeError:
            return key
        if isinstance(value, dict) and set(value) <= set(TEXT_FIELDS) and \
                all(isinstance(v, str) for v in value.values()):
            return value
    return key


def key_statements(key: str) -> list[str]:
    """Every single statement a training text makes, in order, each with its heading: a string's [`text_parts`],
    or those of each non-empty field of a mapping (a protein name, which has no heading, is one statement). The
    one reading of a key into statements: the prior, the multi-label count and the templates of a saved model.

    Example: the key of `{"prot_name": "Lysozyme C", "subloc": "SUBCELLULAR LOCATION: Secreted.", ...}` ->
    `["Lysozyme C", "SUBCELLULAR LOCATION: Secreted.", ...]`.
    """
    text = key_text(key)
    values = [text] if isinstance(text, str) else [text[f] for f in TEXT_FIELDS if text.get(f)]
    return [part for value in values for part in text_parts(value)]


def key_units(key: str) -> list[str]:
    """The texts statement-level training (`text_unit="statement"`) pairs a protein with, one per step: the single
    statements of a string text; a mapping of fields stays whole (its layout is the four-field one)."""
    return list(dict.fromkeys(text_parts(key))) if isinstance(key_text(key), str) else [key]


__all__ = [
    "GO_NAMESPACES",
    "GONamespace",
    "TEXT_FIELDS",
    "TEXT_FIELD_TABLE",
    "TextField",
    "go_annotation",
    "go_namespace",
    "heading_name",
    "is_heading",
    "key_statements",
    "key_text",
    "key_units",
    "parse_go_annotation",
    "resolve_field",
    "statement_field",
    "text_field",
    "text_key",
    "text_parts",
]
