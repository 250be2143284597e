"""The Space's Annotate tab (examples/space/app.py --reference), in headless Chromium: paste FASTA, annotate, read the
per-field tables and the downloads; an invalid residue, too many proteins and an empty input are shown in the page;
the console has no error. Its answers are those of `protst annotate` (the same `annotate_to_files`)."""

import gzip
from pathlib import Path

import pytest

from utils.browser import chromium, console_errors, wait_for
from utils.space import running_space

pytestmark = [pytest.mark.needs_mmseqs, pytest.mark.slow]
pytest.importorskip("gradio")
MAX = 3


def _annotate(driver, fasta: str) -> None:
    box = driver.find_element("css selector", "#annotate-fasta textarea")
    driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', "
                          "{bubbles: true}));", box, fasta)
    driver.find_element("id", "annotate-button").click()


def test_the_space_annotates_pasted_fasta_in_a_browser(reference, go_build, model_folder, tmp_path):
    splits, _ = go_build
    proteins = splits["test"][:2]
    fasta = "".join(f">{r['accession']}\n{r['sequence']}\n" for r in proteins)
    arguments = ["--model", str(model_folder), "--index", str(tmp_path / "index"), "--reference", str(reference),
                 "--max-proteins", str(MAX)]
    with running_space(arguments) as url, chromium() as driver:
        driver.get(url)
        wait_for(driver, "Array.from(document.querySelectorAll('button[role=tab]')).some(b => b.textContent.trim() "
                         "=== 'Annotate')", timeout=60)
        tab = next(b for b in driver.find_elements("css selector", "button[role=tab]") if b.text.strip() == "Annotate")
        tab.click()
        wait_for(driver, f"document.body.innerText.includes('At most {MAX} proteins a run')")
        _annotate(driver, fasta)
        wait_for(driver, "document.body.innerText.includes('2 protein(s) annotated')", timeout=120)
        page = driver.find_element("tag name", "body").text
        for r in proteins:  # every field's table lists the proteins
            assert page.count(r["accession"]) >= 2
        for name in ("molecular_function.tsv", "cellular_component.gaf", "report.html"):  # the downloads
            assert name in page.replace("\n", ""), name
        driver.save_screenshot(str(tmp_path / "space_annotate.png"))
        errors = console_errors(driver)
        assert errors == []

        for text, message in (("MKTJAYIAK", "invalid character 'J'"),
                              ("".join(f">p{i}\nMKTAYIAK\n" for i in range(MAX + 1)), f"at most {MAX} proteins"),
                              ("   ", "holds no protein")):
            _annotate(driver, text)
            wait_for(driver, f"document.body.innerText.includes({message!r})", timeout=60)
            assert "Traceback" not in driver.find_element("tag name", "body").text
        assert console_errors(driver) == []

        # the same endpoint through gradio_client, with a gzipped FASTA uploaded instead of pasted text
        gradio_client = pytest.importorskip("gradio_client")
        packed = tmp_path / "proteins.fa.gz"
        packed.write_bytes(gzip.compress(fasta.encode()))
        client = gradio_client.Client(url, verbose=False)
        status, *tables, files = client.predict("", gradio_client.handle_file(str(packed)), ["molecular_function"],
                                                True, True, api_name="/annotate")
        assert "2 protein(s) annotated" in status
        assert [row[0] for row in tables[0]["data"]] == [r["accession"] for r in proteins]
        assert sorted(Path(f).name for f in files) == ["molecular_function.gaf", "molecular_function.tsv",
                                                         "report.html"]
