"""The Gene Ontology from its OBO file (`go-basic.obo`, plain or gzipped), as a [`GeneOntology`].

Parsed with fastobo (https://github.com/fastobo/fastobo-py), a maintained parser of the OBO 1.4 grammar written in
Rust. It was chosen over obonet, which reads malformed lines without a word (`is_a GO:0000166`, its colon lost,
becomes a key `is_a GO`), and pronto, which builds fastobo's frames into a heavier object model this reader does not
need; fastobo refuses a malformed stanza with the line it stopped at, and reads the shared corpus's 40,415-term
OBO, graph built, as fast as obonet parses it (2.3 s each, `python -m benchmarks.bench_go_files`). The price of
strictness: an OBO with a syntax error (go-basic.obo of 2021-06-16 had one, `Rhea: 36507`) is refused, with its line,
instead of read with a silent loss.

What is kept, as CAFA propagates: `is_a` and `relationship: part_of` (other relations, e.g. `regulates`, are not
followed). An `alt_id` maps to its term's primary id; an obsolete term maps through its `replaced_by`, and one
without is dropped where it is annotated (counted by [`AnnotationFilter`]); `consider` is not followed (it is a
suggestion for curators, not a replacement). The header's `data-version` is the ontology's version.

Example:

```python
>>> ontology = read_obo("go-basic.obo")
>>> ontology.version, ontology.primary("GO:0008022")  # an alternative id of ATP binding
('releases/2024-01-17', ('GO:0005524', 'alternative id mapped to its primary id'))
```
"""

from __future__ import annotations

import gzip
from pathlib import Path

from .gene_ontology import PROPAGATED_RELATIONS, GeneOntology


class OBOFormatError(ValueError):
    """A malformed OBO file, or a cycle in its is_a / part_of graph."""


def _open_binary(path: Path):
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _stanza_lines(path: Path) -> dict[str, int]:
    """The line each term's stanza names its id on (read only to word an error)."""
    lines = {}
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.startswith(b"id: "):
                lines.setdefault(raw[4:].decode("utf-8", "replace").split()[0], number)
    return lines


def _term_at(path: Path, line: int) -> str | None:
    """The id of the stanza that holds `line`."""
    term = None
    for identifier, number in sorted(_stanza_lines(path).items(), key=lambda item: item[1]):
        if number > line:
            break
        term = identifier
    return term


def read_obo(path: str | Path, relations=PROPAGATED_RELATIONS) -> GeneOntology:
    """Read an OBO file (plain or gzipped) into a [`GeneOntology`] (see the module docstring for what is kept).

    Raises:
        OBOFormatError: a malformed stanza (naming the line and the term it belongs to) or a cycle in the graph
            (naming its terms and the line of the first one).
    """
    import fastobo

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with _open_binary(path) as handle:
            document = fastobo.load(handle)
    except SyntaxError as err:
        line = err.lineno or 0
        term = _term_at(path, line)
        raise OBOFormatError(f"{path}: malformed OBO at line {line}" + (f", in the stanza of {term}" if term else "")
                             + f": {err.msg}") from None
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise OBOFormatError(f"{path}: not a readable OBO file ({err})") from None
    version, default_namespace = None, ""
    for clause in document.header:
        if clause.raw_tag() == "data-version":
            version = clause.raw_value()
        elif clause.raw_tag() == "default-namespace":
            default_namespace = clause.raw_value()
    followed = set(relations)
    names, namespaces, parents, alt_ids, obsolete = {}, {}, {}, {}, {}
    for frame in document:
        if type(frame).__name__ != "TermFrame":
            continue  # [Typedef] and [Instance] stanzas
        term = str(frame.id)
        name, namespace, is_obsolete, replaced_by, above, alternatives = "", default_namespace, False, None, [], []
        for clause in frame:
            tag, value = clause.raw_tag(), clause.raw_value()
            if tag == "name":
                name = clause.name  # unescaped (`\{` in the file is `{`)
            elif tag == "namespace":
                namespace = value
            elif tag == "is_obsolete":
                is_obsolete = value == "true"
            elif tag == "replaced_by":
                replaced_by = value.split()[0]
            elif tag == "alt_id":
                alternatives.append(value.split()[0])
            elif tag == "is_a" and "is_a" in followed:
                above.append(value.split()[0])
            elif tag == "relationship":
                relation, _, target = value.partition(" ")
                if relation in followed:
                    above.append(target.split()[0])
        if is_obsolete:
            obsolete[term] = replaced_by
            continue
        names[term], namespaces[term] = name, namespace
        if above:
            parents[term] = tuple(sorted(set(above)))
        for alternative in alternatives:
            alt_ids[alternative] = term
    # a replaced_by that is itself an alternative id: its primary term
    obsolete = {t: alt_ids.get(r, r) if r else None for t, r in obsolete.items()}
    _refuse_cycles(parents, path)
    return GeneOntology(names, namespaces, parents, alt_ids=alt_ids, obsolete=obsolete, version=version)


def _refuse_cycles(parents: dict[str, tuple[str, ...]], path: Path) -> None:
    """Depth-first search over the parents; a term met again on the current path closes a cycle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        stack, trail = [(start, iter(parents.get(start, ())))], [start]
        state[start] = 1
        while stack:
            term, remaining = stack[-1]
            parent = next(remaining, None)
            if parent is None:
                stack.pop()
                trail.pop()
                state[term] = 2
            elif state.get(parent) == 1:
                cycle = trail[trail.index(parent):] + [parent]
                line = _stanza_lines(path).get(cycle[0])
                raise OBOFormatError(f"{path}: the is_a / part_of graph has a cycle: {' -> '.join(cycle)} (the "
                                     f"stanza of {cycle[0]} is at line {line})")
            elif not state.get(parent):
                state[parent] = 1
                stack.append((parent, iter(parents.get(parent, ()))))
                trail.append(parent)


def load_ontology(go_obo: str | Path | None = None, go_terms: str | Path | None = None,
                  go_graph: str | Path | None = None) -> GeneOntology:
    """The ontology from `go-basic.obo` (`--go-obo`), or from the TSV tables of earlier builds (`--go-terms`,
    `--go-graph`)."""
    if go_obo:
        if go_terms or go_graph:
            raise ValueError("give the ontology once: --go-obo, or --go-terms with --go-graph")
        return read_obo(go_obo)
    if go_terms and go_graph:
        return GeneOntology.from_files(go_terms, go_graph)
    raise ValueError("the Gene Ontology is needed: --go-obo go-basic.obo (or --go-terms TSV with --go-graph TSV)")


__all__ = ["OBOFormatError", "load_ontology", "read_obo"]
