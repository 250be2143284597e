"""The HTML report of an annotation run (`protst annotate --report report.html`): one self-contained file, with no
network dependency, that opens offline and can be mailed or attached to a supplement.

What it shows:
- a summary: proteins annotated and skipped, proteins per identity bin of their best MMseqs2 hit (no hit, < 30%,
  30-50%, >= 50%), the labels kept per field, and the reference, model and ontology versions;
- where the evidence comes from: per bin, the fused weights of homology, best hit, neighbours, text and frequencies
  that the reference's fit chose (drawn as SVG here, in Python);
- a searchable, sortable table, one row per protein: its best hit and identity and its top labels per field;
- per protein, when its row is opened: each label's score as a bar split into its evidence shares, and the reference
  protein that supports it.

How a large input stays usable: the page holds the data once, as gzip-compressed JSON in base64 (decompressed by the
browser's own `DecompressionStream`), with each protein's `max_terms` best labels per field (the TSV holds all);
the table renders one page of rows at a time and a protein's detail only when it is opened. Measured in
`benchmarks/bench_annotation_report.py`. Every value from the input (ids, names) reaches the page as text
(`textContent` in the browser, `html.escape` here): an id with HTML in it is shown, never rendered.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..models.protst.folder_protst import write_atomic
from .fields import FieldLabels
from .fusion import BINS, COMPONENTS, Fusion

COMPONENT_NAMES = {"homology": "homology (DiamondScore)", "best_hit": "best hit x identity",
                   "neighbours": "embedding neighbours", "text": "zero-shot text", "prior": "label frequencies"}
COLOURS = {"homology": "#1f77b4", "best_hit": "#17becf", "neighbours": "#2ca02c", "text": "#ff7f0e",
           "prior": "#9b9b9b"}
SCALE = 1000  # scores, shares and identities are stored as integers in thousandths


class AnnotationReport:
    """Collects what `protst annotate` writes (fed by [`AnnotationTable`] as it writes each protein) and renders the
    page at the end ([`write`]), atomically.

    Args:
        path: the HTML file.
        header: the reference, model and ontology versions (`{"reference": ..., "model": ..., "ontology": ...}`).
        max_terms: the best labels per protein and field kept in the page.

    Example:
        >>> report = AnnotationReport("report.html", {"reference": "go-reference"})
        >>> with AnnotationTable("mf.tsv", labels, fusion, report=report) as table: ...
        >>> report.write(skipped=records.problems)
    """

    def __init__(self, path: str | Path, header: dict | None = None, max_terms: int = 20):
        if max_terms < 1:
            raise ValueError(f"the report keeps at least one label per protein and field, got {max_terms}")
        self.path, self.header, self.max_terms = Path(path), dict(header or {}), max_terms
        self.fields: list[dict] = []
        self._field_index: dict[str, int] = {}
        self._terms: dict[str, int] = {}
        self._term_list: list[list[str]] = []
        self._refs: dict[str, int] = {}
        self._proteins: dict[str, list] = {}  # id -> [id, bin, best hit, identity], in the order first seen

    def add_field(self, labels: FieldLabels, fusion: Fusion, min_score: float, threshold: float | None,
                  leaves: bool = False) -> None:
        """A field the run writes, with the weights its fit chose and the score its labels must reach (`leaves`:
        the most specific of them only)."""
        self._field_index[labels.name] = len(self.fields)
        self.fields.append({"name": labels.name, "labels": labels, "min_score": float(min_score), "leaves": leaves,
                            "threshold": None if threshold is None else float(threshold),
                            "weights": np.asarray(fusion.weights, dtype=np.float64).round(4).tolist(),
                            "kept": 0, "terms": set(), "annotated": 0, "by_protein": {}})

    def add(self, field: str, identifier: str, bin_index: int, best_hit: tuple[str, float] | None,
            order: np.ndarray, scores: np.ndarray, shares: dict[str, np.ndarray], supports: list) -> None:
        """One protein's kept labels of one field (`order`, best first; `scores` its fused row; `shares` each
        evidence's part of the kept labels' scores; `supports` the supporting reference protein of each)."""
        entry = self.fields[self._field_index[field]]
        labels = entry["labels"]
        if identifier not in self._proteins:
            self._proteins[identifier] = [identifier, int(bin_index), -1 if best_hit is None else
                                          self._ref(best_hit[0]), -1 if best_hit is None else _milli(best_hit[1])]
        entry["kept"] += len(order)
        entry["annotated"] += bool(len(order))
        entry["terms"].update(order.tolist())
        terms = []
        for position, label in enumerate(order[:self.max_terms]):
            support = supports[position] if position < len(supports) else None
            terms.append([self._term(labels.ids[label], labels.names[label]), _milli(scores[label]),
                          *(_milli(shares[c][position]) if c in shares else 0 for c in COMPONENTS),
                          -1 if support is None else self._ref(support[1]),
                          0 if support is None or support[0] == "identity" else 1,
                          0 if support is None else _milli(support[2])])
        entry["by_protein"][identifier] = terms

    def _labels_of(self, f: int) -> list[list]:
        """Each protein's kept labels of field `f`, in protein order (none where the field did not see it)."""
        by_protein = self.fields[f]["by_protein"]
        return [by_protein.get(identifier, []) for identifier in self._proteins]

    def _term(self, term_id: str, name: str) -> int:
        if term_id not in self._terms:
            self._terms[term_id] = len(self._term_list)
            self._term_list.append([term_id, name])
        return self._terms[term_id]

    def _ref(self, accession: str) -> int:
        return self._refs.setdefault(accession, len(self._refs))

    def data(self) -> dict:
        """What the page's script reads: fields, components, the label and reference-protein tables, the proteins
        (`ids`, identity `bins`, best `hits` and their `identity`) and, per field, the kept labels as columns (which
        compress better than rows): `counts` per protein, then per label `term`, `score`, one column of `shares` per
        component, the supporting protein (`support`, -1 none), `kind` (0 identity, 1 cosine) and `value`. Numbers
        are integers in thousandths ([`read_report_data`] turns this back into one row per protein)."""
        proteins = list(self._proteins.values())
        columns = []
        for f in range(len(self.fields)):
            per_protein = self._labels_of(f)
            terms = [t for labels in per_protein for t in labels]
            column = {"counts": [len(labels) for labels in per_protein], "term": [t[0] for t in terms],
                      "score": [t[1] for t in terms],
                      "shares": [[t[2 + c] for t in terms] for c in range(len(COMPONENTS))]}
            support = 2 + len(COMPONENTS)
            column.update(support=[t[support] for t in terms], kind=[t[support + 1] for t in terms],
                          value=[t[support + 2] for t in terms])
            columns.append(column)
        return {"fields": [f["name"] for f in self.fields], "components": list(COMPONENTS),
                "component_names": [COMPONENT_NAMES[c] for c in COMPONENTS],
                "colours": [COLOURS[c] for c in COMPONENTS], "bins": list(BINS), "max_terms": self.max_terms,
                "terms": self._term_list, "refs": list(self._refs),
                "proteins": {"ids": [p[0] for p in proteins], "bins": [p[1] for p in proteins],
                             "hits": [p[2] for p in proteins], "identity": [p[3] for p in proteins]},
                "labels": columns}

    def table(self, field: str, top: int = 5) -> list[list]:
        """The page's table for one field, one row per protein: `[id, best hit, identity %, top labels]` (the labels
        as `name (id) score`; the Space shows it)."""
        rows, refs = [], list(self._refs)
        for p, kept in zip(self._proteins.values(), self._labels_of(self._field_index[field])):
            labels = "; ".join(f"{self._term_list[t[0]][1]} ({self._term_list[t[0]][0]}) {t[1] / SCALE:.2f}"
                               for t in kept[:top])
            rows.append([p[0], "" if p[2] < 0 else refs[p[2]],
                         None if p[3] < 0 else round(p[3] / 10, 1), labels])
        return rows

    def write(self, skipped: list[str] | None = None) -> Path:
        """Render the page into `path` (atomically) and return it."""
        skipped = list(skipped or [])
        payload = json.dumps(self.data(), separators=(",", ":")).encode()
        encoded = base64.b64encode(gzip.compress(payload, compresslevel=6, mtime=0)).decode("ascii")
        values = {"title": html.escape(self._title()), "summary": self._summary(skipped), "figure": self._figure(),
                  "data": encoded}
        write_atomic(self.path, re.sub(r"\{\{(\w+)\}\}", lambda match: values[match.group(1)], _template()))
        return self.path

    def _title(self) -> str:
        return f"protst annotate: {len(self._proteins)} proteins, {', '.join(f['name'] for f in self.fields)}"

    def _summary(self, skipped: list[str]) -> str:
        bins = np.bincount([p[1] for p in self._proteins.values()], minlength=len(BINS))
        versions = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                           for k, v in self.header.items() if v is not None)
        counts = (f"<tr><th>proteins annotated</th><td id='n-proteins'>{len(self._proteins)}</td></tr>"
                  f"<tr><th>input records skipped</th><td id='n-skipped'>{len(skipped)}</td></tr>")
        if skipped:
            counts += (f"<tr><th>first skipped</th><td>{html.escape('; '.join(skipped[:5]))}"
                       f"{' ...' if len(skipped) > 5 else ''}</td></tr>")
        named = ["no MMseqs2 hit", *(f"best hit {html.escape(name)} identity" for name in BINS[1:])]
        identity = "".join(f"<tr><th>{name}</th><td class='bin-count'>{int(n)}</td></tr>"
                           for name, n in zip(named, bins))
        rows = []
        for f in self.fields:
            kept = "score" if f["threshold"] is None else "threshold"
            value = f["min_score"] if f["threshold"] is None else max(f["min_score"], f["threshold"])
            specific = ", most specific only" if f["leaves"] else ""
            rows.append(f"<tr><td>{html.escape(f['name'])}</td><td>{kept} &ge; {value:.2f}{specific}</td>"
                        f"<td class='kept'>{f['kept']}</td><td class='distinct'>{len(f['terms'])}</td>"
                        f"<td class='annotated'>{f['annotated']}</td></tr>")
        fields = ("<table class='facts'><thead><tr><th>field</th><th>labels kept at</th><th>protein-label pairs"
                  "</th><th>distinct labels</th><th>proteins with a label</th></tr></thead><tbody>"
                  + "".join(rows) + "</tbody></table>")
        empty = ""
        if self._proteins and not any(f["kept"] for f in self.fields):
            levels = "; ".join(f"{html.escape(f['name'])} at {max(f['min_score'], f['threshold'] or 0):.2f}"
                               for f in self.fields)
            empty = (f"<p id='nothing-kept' class='warning'>No label reached the score kept ({levels}): nothing "
                     "to show per protein. Lower --min-score or --threshold.</p>")
        elif not self._proteins:
            empty = "<p id='nothing-kept' class='warning'>No protein was annotated.</p>"
        return (f"{empty}<div class='cards'><table class='facts'>{counts}{identity}</table>"
                f"<table class='facts'>{versions}</table></div>{fields}")

    def _figure(self) -> str:
        """Per field, per bin, the fit's weights as one stacked bar (inline SVG), with a legend."""
        width, bar, gap, left = 420, 18, 8, 70
        panels = []
        for f in self.fields:
            height = len(BINS) * (bar + gap) + 24
            parts = [f"<svg class='weights' role='img' width='{left + width + 10}' height='{height}' "
                     f"aria-label='fused weights per identity bin, {html.escape(f['name'])}'>"
                     f"<text x='0' y='12' class='panel-title'>{html.escape(f['name'])}</text>"]
            for b, (name, weights) in enumerate(zip(BINS, f["weights"])):
                y = 20 + b * (bar + gap)
                parts.append(f"<text x='0' y='{y + bar - 5}'>{html.escape(name)}</text>")
                x = float(left)
                for component, weight in zip(COMPONENTS, weights):
                    if weight <= 0:
                        continue
                    w = weight * width
                    parts.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar}' "
                                 f"fill='{COLOURS[component]}'><title>{html.escape(name)}: "
                                 f"{COMPONENT_NAMES[component]} {weight:.2f}</title></rect>")
                    x += w
            parts.append("</svg>")
            panels.append("".join(parts))
        legend = "".join(f"<span class='key'><i style='background:{COLOURS[c]}'></i>{COMPONENT_NAMES[c]}</span>"
                         for c in COMPONENTS)
        return f"<div class='legend'>{legend}</div><div class='panels'>{''.join(panels)}</div>"


def read_report_data(path: str | Path) -> dict:
    """The data of a report page, decoded as the page's script decodes it: [`AnnotationReport.data`] with the
    proteins as rows, `[id, bin, best hit, identity, labels of each field]`, each label `[label, score, share of each
    component, supporting protein, 0 identity / 1 cosine, its value]`."""
    found = re.search(r'<script type="application/octet-stream" id="data">([^<]*)</script>',
                      Path(path).read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f"{path} is not a report of protst annotate (no data block)")
    data = json.loads(gzip.decompress(base64.b64decode(found.group(1))))
    proteins = data["proteins"]
    rows = [[i, b, h, d] for i, b, h, d in zip(proteins["ids"], proteins["bins"], proteins["hits"],
                                                proteins["identity"])]
    for column in data["labels"]:
        at = 0
        for row, count in zip(rows, column["counts"]):
            row.append([[column["term"][k], column["score"][k], *(share[k] for share in column["shares"]),
                         column["support"][k], column["kind"][k], column["value"][k]] for k in range(at, at + count)])
            at += count
    data["proteins"] = rows
    return data


def _milli(value: float) -> int:
    return int(round(float(value) * SCALE))


def _template() -> str:
    return resources.files(__package__).joinpath("html_report_page.html").read_text(encoding="utf-8")


__all__ = ["AnnotationReport", "read_report_data"]
