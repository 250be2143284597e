"""Cleaning of UniProt comment text: evidence tags and citations removed, location terms read from SUBCELLULAR
LOCATION texts."""

import re

EVIDENCE_TAG = re.compile(r"\s*\{(?:ECO|EC0):[^{}]*\}")
_PARENTHESES = re.compile(r"\s*\(([^()]*)\)")
_CITATION_ITEM = re.compile(r"^\s*(?:PubMed:\s*\d+|Ref\.\s*\d+|ECO:\d+(?:\|[^,]*)?)\s*$")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:])")
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


def _strip_citation(match: re.Match) -> str:
    items = match.group(1).split(",")
    return "" if all(_CITATION_ITEM.match(item) for item in items) else match.group(0)


def clean_text(text: str) -> str:
    """Remove evidence tags (`{ECO:...}`) and parenthesised citations (`(PubMed:123, PubMed:456)`, `(Ref.3)`),
    keep qualifiers such as `(By similarity)` and isoform prefixes, and normalise whitespace."""
    text = EVIDENCE_TAG.sub("", text)
    text = _PARENTHESES.sub(_strip_citation, text)
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _DOUBLE_PERIOD.sub(".", text)  # "(By similarity). {ECO:...}." leaves ".."


def location_terms_from_text(blocks: list[str]) -> list[str]:
    """Location terms of SUBCELLULAR LOCATION texts: `Cell membrane {ECO:..}; Multi-pass membrane protein.
    Cytoplasm, cytoskeleton. Note=...` gives `["Cell membrane", "Cytoplasm, cytoskeleton"]`."""
    terms = []
    for block in blocks:
        text = EVIDENCE_TAG.sub("", block)
        text = text.split(":", 1)[1] if text.startswith("SUBCELLULAR LOCATION") else text
        text = text.split("Note=")[0].strip()
        if text.startswith("["):  # "[Isoform 2]: Nucleus."
            text = text.split("]:", 1)[-1]
        for statement in text.split(". "):
            location = _QUALIFIER.sub("", statement.split(";")[0]).strip().rstrip(".").strip()
            if location and location not in terms:
                terms.append(location)
    return terms


_QUALIFIER = re.compile(r"\s*\((?:Potential|Probable|By similarity)\)")
STATUS_QUALIFIERS = {"by similarity": "By similarity", "probable": "Probable", "potential": "Potential"}


__all__ = ["clean_text", "location_terms_from_text"]
