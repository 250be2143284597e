"""The HTML report of `protst annotate --report` at scale: its size and the time headless Chromium takes to show it,
against a baseline of the same table rendered eagerly (every protein's row and its labels' bars as static HTML, the
page a naive writer would produce), in the same run.

    python -m benchmarks.bench_annotation_report [--proteins 3000 20000] [--report REPORT.html ...]

Synthetic runs: N proteins x 3 GO namespaces x 20 labels each (the report's default), labels drawn from 5,000 terms
per namespace with names, evidence shares and supporting proteins, through the same `AnnotationReport` that
`protst annotate` feeds. `--report` also times pages written by real runs. Needs Debian's chromium and
chromium-driver and selenium (skipped, saying so, without them).
"""

from __future__ import annotations

import argparse
import html
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .hardware import describe

EAGER_AT_MOST = 5000  # proteins; the eager page of 20,000 is about 600 MB
FIELDS = ("molecular_function", "biological_process", "cellular_component")
WORDS = ("binding", "activity", "protein", "kinase", "transport", "membrane", "regulation", "process", "complex",
         "receptor", "nucleotide", "metabolic", "cellular", "response", "signaling", "transferase", "DNA", "RNA")


class _Labels:
    def __init__(self, name: str, size: int, rng: np.random.Generator):
        self.name, self.ids = name, [f"GO:{rng.integers(1, 2_000_000):07d}" for _ in range(size)]
        self.names = [" ".join(rng.choice(WORDS, size=rng.integers(2, 5))) for _ in range(size)]


class _Fusion:
    weights = np.array([[0, 0, 0.2, 0.8, 0], [0.3, 0.6, 0, 0.1, 0], [0.5, 0.4, 0, 0.1, 0], [0.5, 0.3, 0.2, 0, 0]])


def synthetic_report(path: Path, proteins: int, terms: int = 20, seed: int = 0) -> Path:
    """A report of `proteins` made-up proteins, written through `AnnotationReport` as annotate writes one."""
    from protst_hf.annotation import COMPONENTS, AnnotationReport

    rng = np.random.default_rng(seed)
    report = AnnotationReport(path, {"reference": "synthetic", "model": "none", "ontology": "none"}, terms)
    labels = {f: _Labels(f, 5000, rng) for f in FIELDS}
    for f in FIELDS:
        report.add_field(labels[f], _Fusion(), 0.01, None)
    accessions = [f"Q{rng.integers(10_000, 99_999)}{chr(65 + i % 26)}" for i in range(100_000)]
    for p in range(proteins):
        identity = float(rng.uniform(0.15, 1.0)) if rng.random() > 0.05 else None
        best = None if identity is None else (accessions[rng.integers(len(accessions))], identity)
        bin_index = 0 if identity is None else 1 + (identity >= 0.3) + (identity >= 0.5)
        for f in FIELDS:
            order = rng.choice(5000, size=terms, replace=False)
            scores = np.zeros(5000, dtype=np.float32)
            scores[order] = np.sort(rng.uniform(0.01, 1.0, terms).astype(np.float32))[::-1]
            # each evidence's part: its weight in the protein's bin times a score of its own, scaled to the total
            parts = _Fusion.weights[bin_index] * rng.uniform(0, 1, (terms, len(COMPONENTS)))
            parts *= (scores[order] / np.maximum(parts.sum(1), 1e-9))[:, None]
            shares = {c: parts[:, i] for i, c in enumerate(COMPONENTS) if _Fusion.weights[bin_index, i] > 0}
            supports = [("identity", best[0], best[1]) if best and rng.random() < 0.7 else
                        ("cosine", accessions[rng.integers(len(accessions))], float(rng.uniform(0.8, 1)))
                        for _ in range(terms)]
            report.add(f, f"sp|P{p:05d}|PROT{p}_SYNTH", bin_index, best, order, scores, shares, supports)
    return report.write()


def eager_page(report_path: Path, out: Path) -> Path:
    """The baseline: the same proteins, labels and bars written out as static HTML rows."""
    from protst_hf.annotation.html_report import COLOURS, COMPONENTS, read_report_data

    data = read_report_data(report_path)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>eager</title>"
             "</head><body><table>"]
    for p in data["proteins"]:
        hit = "no hit" if p[2] < 0 else data["refs"][p[2]]
        parts.append(f"<tr><td>{html.escape(p[0])}</td><td>{hit}</td><td>{max(p[3], 0) / 10:.1f}</td></tr>")
        for terms in p[4:]:
            for t in terms:
                name = data["terms"][t[0]]
                bars = "".join(f"<span style='display:inline-block;height:12px;width:{t[2 + c] * 0.24:.0f}px;"
                               f"background:{COLOURS[component]}'></span>" for c, component in enumerate(COMPONENTS)
                               if t[2 + c] > 0)
                parts.append(f"<tr><td>{name[0]}</td><td>{html.escape(name[1])}</td><td>{bars}</td>"
                             f"<td>{t[1] / 1000:.3f}</td></tr>")
    parts.append("</table></body></html>")
    out.write_text("".join(parts), encoding="utf-8")
    return out


def open_seconds(driver, page: Path, ready: str) -> float:
    """Seconds from navigation until `ready` (a JavaScript expression) holds; the best of three loads."""
    times = []
    for _ in range(3):
        driver.get("about:blank")
        started = time.perf_counter()
        driver.get(page.as_uri())
        while not driver.execute_script(f"return {ready}"):
            time.sleep(0.01)
        times.append(time.perf_counter() - started)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            raise RuntimeError(f"{page}: console errors {errors[:3]}")
    return min(times)


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proteins", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--report", type=Path, nargs="*", default=[], help="reports of real runs to time too")
    args = parser.parse_args(argv)
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("skipped: selenium is not installed")
        return 0
    if not (shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("chromium-browser"))):
        print("skipped: chromium and chromium-driver are absent (apt-get install chromium chromium-driver)")
        return 0
    from protst_hf.annotation.html_report import read_report_data

    print(describe(), flush=True)
    ready = "document.body.dataset.ready === 'true'"
    with tempfile.TemporaryDirectory() as work:
        driver = _driver()
        try:
            print("| report | proteins | HTML MB | opens in s | eager HTML MB | eager opens in s | ratio (eager / "
                  "report) |\n|---|---|---|---|---|---|---|")
            pages = [("synthetic, 3 fields x 20 labels", synthetic_report(Path(work) / f"r{n}.html", n))
                     for n in args.proteins] + [(str(p), p) for p in args.report]
            for name, page in pages:
                count = len(read_report_data(page)["proteins"])
                eager = eager_page(page, Path(work) / f"eager-{count}.html")
                seconds = open_seconds(driver, page, ready)
                if count <= EAGER_AT_MOST:
                    eager_seconds = open_seconds(driver, eager, "document.readyState === 'complete'")
                    timed = f"{eager_seconds:.2f} | {eager_seconds / seconds:.1f}x"
                else:  # a page of hundreds of MB outlasts the driver's 120 s limit: not timed
                    timed = "not timed | -"
                print(f"| {name} | {count:,} | {page.stat().st_size / 1e6:.1f} | {seconds:.2f} | "
                      f"{eager.stat().st_size / 1e6:.1f} | {timed} |", flush=True)
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
