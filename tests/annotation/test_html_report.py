"""`protst annotate --report`: the self-contained HTML page of a run holds what the TSVs hold (each protein's best
labels, their evidence shares and supporting proteins, the best hit and its bin), says so when nothing is kept,
escapes ids with HTML in them, and works in a real browser (headless Chromium: sort, search, open a protein, no
console error)."""

import html
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from protst_hf.annotation import BINS, COMPONENTS, AnnotationReference
from protst_hf.annotation.html_report import read_report_data
from protst_hf.cli import main as cli
from utils.browser import chromium, console_errors, wait_for

pytestmark = pytest.mark.needs_mmseqs
HTML_ID = "evil<img/src=x/onerror=document.title='pwned'>"
TERMS = 5


@pytest.fixture(scope="module")
def annotated(reference, go_build, model_folder, tmp_path_factory):
    """The test split annotated against the reference, with an id holding HTML and a broken record."""
    splits, _ = go_build
    folder = tmp_path_factory.mktemp("report")
    records = [(r["accession"], r["sequence"]) for r in splits["test"]] + [(HTML_ID, splits["test"][0]["sequence"])]
    (folder / "test.fasta").write_text("".join(f">{i}\n{s}\n" for i, s in records) + ">broken\nMKV$LL\n")
    common = ["annotate", str(folder / "test.fasta"), "--reference", str(reference), "--model", str(model_folder),
              "--field", "all", "--precision", "float32"]
    assert cli(common + ["--output", str(folder / "a.{field}.tsv"), "--report", str(folder / "report.html"),
                         "--report-terms", str(TERMS), "--leaves"]) == 0
    assert cli(common + ["--output", str(folder / "none.{field}.tsv"), "--report", str(folder / "empty.html"),
                         "--min-score", "2"]) == 0
    return folder, records


def test_the_report_holds_the_best_labels_of_the_tsv_with_their_evidence(annotated, reference):
    folder, records = annotated
    page = (folder / "report.html").read_text()
    data = read_report_data(folder / "report.html")
    loaded = AnnotationReference.load(reference)
    assert data["fields"] == loaded.field_names and data["components"] == list(COMPONENTS)
    proteins = {p[0]: p for p in data["proteins"]}
    assert list(proteins) == [i for i, _ in records]  # input order; the broken record is not a protein
    assert f"id='n-proteins'>{len(records)}<" in page and "id='n-skipped'>1<" in page
    assert html.escape("record 'broken' (line") in page  # the first skipped records are named
    assert "score &ge; 0.01, most specific only" in page
    bins = [int(n) for n in re.findall(r"<td class='bin-count'>(\d+)</td>", page)]
    assert bins == np.bincount([p[1] for p in data["proteins"]], minlength=len(BINS)).tolist()
    for p in data["proteins"]:  # the bin is the best hit's identity bin
        identity = p[3] / 1000
        assert (p[1] == 0) == (p[2] < 0) and (p[2] < 0 or p[1] == 1 + (identity >= 0.3) + (identity >= 0.5))
    support_column = len(COMPONENTS) + 2
    for f, name in enumerate(data["fields"]):
        rows = defaultdict(list)
        for line in (folder / f"a.{name}.tsv").read_text().splitlines()[2:]:
            cells = line.split("\t")
            rows[cells[0]].append(cells)
        assert sum(1 for p in data["proteins"] if p[4 + f]) == len(rows) > 0
        counts = re.search(rf"<td>{name}</td><td>[^<]*</td><td class='kept'>(\d+)</td><td class='distinct'>(\d+)"
                           rf"</td><td class='annotated'>(\d+)</td>", page)
        assert [int(n) for n in counts.groups()] == [sum(len(v) for v in rows.values()),
                                                     len({c[1] for v in rows.values() for c in v}), len(rows)]
        for identifier, protein in proteins.items():
            expected, got = rows.get(identifier, [])[:TERMS], protein[4 + f]
            assert [data["terms"][t[0]][0] for t in got] == [cells[1] for cells in expected]
            assert [data["terms"][t[0]][1] for t in got] == [cells[2] for cells in expected]
            for term, cells in zip(got, expected):
                assert abs(term[1] / 1000 - float(cells[3])) <= 0.0006
                shares = dict(part.split("=") for part in cells[4].split(";") if part)
                for c, component in enumerate(COMPONENTS):
                    assert abs(term[2 + c] / 1000 - float(shares.get(component, 0))) <= 0.0011
                assert (term[support_column] < 0) == (cells[5] == "")
                if cells[5]:  # "P12345 identity 0.62": the TSV's two decimals, the report's three
                    accession, kind, value = cells[5].split(" ")
                    assert data["refs"][term[support_column]] == accession
                    assert ("cosine" if term[support_column + 1] else "identity") == kind
                    assert abs(term[support_column + 2] / 1000 - float(value)) <= 0.0056
    # the figure: one panel per field, a bar part for each positive weight of the fit
    for name in data["fields"]:
        weights = loaded.field(name)[1].weights
        panel = page[page.index(f"aria-label='fused weights per identity bin, {name}'"):]
        panel = panel[:panel.index("</svg>")]
        assert panel.count("<rect") == int((weights.round(4) > 0).sum())
    assert "<img" not in page  # the id with HTML travels inside the compressed data only


def test_a_report_where_nothing_is_kept_says_so(annotated):
    folder, records = annotated
    page = (folder / "empty.html").read_text()
    assert "id='nothing-kept'" in page and "Lower --min-score or --threshold" in page
    assert all(not any(p[4:]) for p in read_report_data(folder / "empty.html")["proteins"])


@pytest.mark.slow
def test_the_report_in_a_browser(annotated, tmp_path):
    """Headless Chromium: the table renders, sorts and filters, a protein opens into its labels' evidence bars, the
    id with HTML is shown as text and runs nothing, the empty report says so, and the console has no error."""
    folder, records = annotated
    data = read_report_data(folder / "report.html")
    with chromium() as driver:
        driver.get((folder / "report.html").as_uri())
        wait_for(driver, "document.body.dataset.ready === 'true'")
        assert console_errors(driver) == []
        rows = driver.find_elements("css selector", "tr.protein")
        assert len(rows) == min(100, len(records))
        assert driver.find_element("id", "pager-info").text == f"proteins 1-{len(rows)} of {len(records)}"
        driver.find_element("css selector", "th[data-column='2']").click()  # numbers sort highest first
        shown = [driver.execute_script("return arguments[0].cells[2].textContent", r)
                 for r in driver.find_elements("css selector", "tr.protein")]
        values = [float(v.rstrip("%")) if v else -1.0 for v in shown]
        assert values == sorted(values, reverse=True)
        assert driver.find_element("css selector", "th[data-column='2']").get_attribute("aria-sort") == "descending"

        search = driver.find_element("id", "search")
        search.send_keys("evil<img")
        wait_for(driver, "document.querySelectorAll('tr.protein').length === 1")
        row = driver.find_element("css selector", "tr.protein")
        assert row.find_elements("tag name", "td")[0].text == HTML_ID  # shown as text
        assert driver.execute_script("return document.querySelectorAll('img').length") == 0
        assert driver.title != "pwned"
        row.click()
        wait_for(driver, "document.querySelector('tr.detail') !== null")
        protein = next(p for p in data["proteins"] if p[0] == HTML_ID)
        terms = driver.find_elements("css selector", "tr.detail tr.term")
        assert len(terms) == sum(len(t) for t in protein[4:]) > 0
        first = next(t for t in protein[4:] if t)[0]
        bar = driver.find_element("css selector", "tr.detail tr.term .bar")
        track = driver.find_element("css selector", "tr.detail tr.term .track")
        assert abs(bar.size["width"] / track.size["width"] - first[1] / 1000) < 0.02  # the bar is the score
        parts = bar.find_elements("css selector", ".seg")
        assert [p.get_attribute("data-component") for p in parts] == \
            [c for i, c in enumerate(COMPONENTS) if first[2 + i] > 0]
        screenshot = tmp_path / "report.png"
        search.clear()
        driver.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'));", search)
        driver.find_elements("css selector", "tr.protein")[0].click()
        driver.set_window_size(1400, 1500)
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        if os.environ.get("PROTST_SCREENSHOTS"):  # the README's picture: PROTST_SCREENSHOTS=docs/images
            shutil.copy(screenshot, Path(os.environ["PROTST_SCREENSHOTS"]) / "annotation_report.png")
        assert console_errors(driver) == []

        driver.get((folder / "empty.html").as_uri())
        wait_for(driver, "document.body.dataset.ready === 'true'")
        assert driver.find_element("id", "nothing-kept").is_displayed()
        assert console_errors(driver) == []
