"""UniProt parsers."""

import gzip
import re
import shutil
import tracemalloc
from pathlib import Path

import pytest

from protst_hf.data.protdescribe import protdescribe_row
from protst_hf.data.uniprot import ParseReport, clean_text, detect_format, iter_uniprot
from utils.builders import FIXTURES, SHARED_DATA

UNIPROT = FIXTURES / "uniprot"

XML_2022 = UNIPROT / "uniprot_sprot_2022_250entries.xml"

FLAT_MODERN = sorted(UNIPROT.glob("*.dat")) + sorted(UNIPROT.glob("*.txl"))

BIOPYTHON = SHARED_DATA / "swissprot_biopython"

SWISS100 = SHARED_DATA / "swissprot_flatfile_libswiss" / "SWISS100.dat"

needs_shared = pytest.mark.skipif(not BIOPYTHON.is_dir(), reason="../shared/data not present")



def records(*paths, report=None):
    return [r for path in paths for r in iter_uniprot(path, report)]


def by_accession(*paths):
    return {r.accession: r for r in records(*paths)}


def test_formats_are_detected(tmp_path):
    assert detect_format(XML_2022) == "xml"
    assert detect_format(UNIPROT / "O05204.dat") == "flat"
    compressed = tmp_path / "sample.anything"
    with open(XML_2022, "rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert detect_format(compressed) == "xml"


def test_xml_2022_fields_by_hand():
    entry = by_accession(XML_2022)["P0C9F0"]
    assert entry.entry_name == "1001R_ASFK5" and entry.reviewed is True
    assert entry.organism == "African swine fever virus (isolate Pig/Kenya/KEN-50/1950) (ASFV)"
    assert entry.taxon_id == 561445 and len(entry.sequence) == 122 and entry.sequence.startswith("MVRLFYNPIKYLF")
    assert entry.protein_names == "Protein MGF 100-1R"
    row = protdescribe_row(entry)
    assert row["function"] == ("FUNCTION: Plays a role in virus cell tropism, and may be required for efficient "
                               "virus replication in macrophages.")
    assert row["similarity"] == "SIMILARITY: Belongs to the asfivirus MGF 100 family."
    assert row["subloc"] == "" and entry.modified == "2022-02-23"
    # the raw text keeps the evidence, rendered as the flat file does
    assert entry.function == [row["function"] + " {ECO:0000250}."]


def test_flat_2019_2025_fields_by_hand():
    entries = by_accession(*FLAT_MODERN)
    o05204 = entries["O05204"]
    assert o05204.accessions == ["O05204", "Q2G0Z7"] and o05204.entry_name == "AHPF_STAA8"
    assert o05204.organism == "Staphylococcus aureus (strain NCTC 8325 / PS 47)" and o05204.taxon_id == 93061
    assert o05204.protein_names == "Alkyl hydroperoxide reductase subunit F (EC 1.8.1.-)"
    assert o05204.ec_numbers == ["1.8.1.-"] and len(o05204.sequence) == 507
    row = protdescribe_row(o05204)
    assert row["function"] == (
        "FUNCTION: Serves to protect the cell against DNA damage by alkyl hydroperoxides. It can use either NADH or "
        "NADPH as electron donor for direct reduction of redox dyes or of alkyl hydroperoxides when combined with "
        "the AhpC protein (By similarity)."
    )
    assert row["similarity"] == ("SIMILARITY: Belongs to the class-II pyridine nucleotide-disulfide oxidoreductase "
                                 "family.")
    assert o05204.modified == "2022-08-03"

    app = protdescribe_row(entries["P05067"])
    assert app["prot_name"].startswith("Amyloid-beta precursor protein (APP) (ABPP) (APPI)")
    assert "[Cleaved into: N-APP; Soluble APP-alpha (S-APP-alpha); Soluble APP-beta (S-APP-beta);" in app["prot_name"]
    # molecule sub-blocks stay readable, citations and evidence go
    assert "SUBCELLULAR LOCATION: [Soluble APP-beta]: Secreted. SUBCELLULAR LOCATION: [Amyloid-beta protein 42]: " \
           "Cell surface. Note=Associates with FPR2" in app["subloc"]
    assert "through association with APBB1 (Fe65). In dopaminergic" in app["subloc"]  # "(PubMed:11544248)" removed
    assert app["subloc"].startswith("SUBCELLULAR LOCATION: Cell membrane; Single-pass type I membrane protein. "
                                    "Membrane; Single-pass type I membrane protein. Perikaryon.")
    assert app["location_terms"][:4] == ["Cell membrane", "Membrane", "Perikaryon", "Cell projection, growth cone"]
    assert app["similarity"] == "SIMILARITY: Belongs to the APP family."


@pytest.mark.skipif(not SWISS100.exists(), reason="../shared/data not present")
def test_flat_2014_fields_by_hand():
    entry = next(iter_uniprot(SWISS100))
    row = protdescribe_row(entry)
    assert entry.accessions == ["P31946", "A8K9K2", "E1P616"] and entry.entry_name == "1433B_HUMAN"
    assert row["organism"] == "Homo sapiens (Human)" and row["taxon_id"] == 9606 and row["length"] == 246
    assert row["prot_name"] == ("14-3-3 protein beta/alpha (Protein 1054) (Protein kinase C inhibitor protein 1) "
                                "(KCIP-1) [Cleaved into: 14-3-3 protein beta/alpha, N-terminally processed]")
    assert row["function"].startswith("FUNCTION: Adapter protein implicated in the regulation of a large spectrum")
    assert row["function"].endswith("resulting in blockage of neuronal apoptosis elicited by SRPK2.")
    assert row["subloc"] == ("SUBCELLULAR LOCATION: Cytoplasm. Melanosome. Note=Identified by mass spectrometry in "
                             "melanosome fractions from stage I to stage IV.")
    assert row["location_terms"] == ["Cytoplasm", "Melanosome"]
    assert row["similarity"] == "SIMILARITY: Belongs to the 14-3-3 family."
    assert len(row["go_terms"]) == 40 and row["go_terms"][0] == "C:GO:0005737"


@needs_shared
def test_pre_2008_description_lines_and_hyphen_wrapping():
    fos = next(iter_uniprot(BIOPYTHON / "sp016"))
    assert fos.protein_names == "Proto-oncogene protein c-fos (Cellular oncogene fos) (G0/G1 switch regulatory " \
                                "protein 7)"
    receptor = next(iter_uniprot(BIOPYTHON / "Q13639.txt"))
    # "...receptors for 5-" / "hydroxytryptamine": wrapped after a hyphen, joined without a space
    assert "receptors for 5-hydroxytryptamine (serotonin)" in receptor.function[0]


@needs_shared
@pytest.mark.parametrize("name", ["multi_ex", "Q13639", "F2CXE6", "H2CNN8"])
def test_flat_file_and_xml_of_the_same_entries_agree(name):
    flat = [protdescribe_row(r) for r in iter_uniprot(BIOPYTHON / f"{name}.txt")]
    xml = [protdescribe_row(r) for r in iter_uniprot(BIOPYTHON / f"{name}.xml")]
    assert len(flat) == len(xml) > 0
    for a, b in zip(flat, xml):
        keywords_a, keywords_b = set(a.pop("keywords")), set(b.pop("keywords"))  # XML sorts them
        assert a == b and keywords_a == keywords_b


def _independent_topic_counts(path: Path) -> dict[str, int]:
    """Entries with each topic, counted on the raw text without the parser."""
    text = path.read_text()
    if text.lstrip().startswith("<"):
        entries = re.findall(r"<entry\b.*?</entry>", text, re.S)
        patterns = {"function": r'<comment type="function">\s*(?:<molecule>.*?</molecule>\s*)?<text',
                    "subloc": r'<comment type="subcellular location">',
                    "similarity": r'<comment type="similarity">\s*<text'}
    else:
        entries = [e for e in text.split("\n//") if "\nSQ   " in e]
        patterns = {"function": r"CC   -!- FUNCTION:", "subloc": r"CC   -!- SUBCELLULAR LOCATION:",
                    "similarity": r"CC   -!- SIMILARITY:"}
    return {topic: sum(bool(re.search(p, e, re.S)) for e in entries) for topic, p in patterns.items()}


def _sample_files():
    files = [XML_2022, *FLAT_MODERN]
    if BIOPYTHON.is_dir():
        skip = ("README", "SOURCE.md", "UniRef90_P99999.xml")
        files += [p for p in sorted(BIOPYTHON.iterdir()) if p.name not in skip]
    if SWISS100.exists():
        files.append(SWISS100)
    return files


def test_topic_counts_match_an_independent_count():
    totals = {"function": [0, 0], "subloc": [0, 0], "similarity": [0, 0]}
    for path in _sample_files():
        expected = _independent_topic_counts(path)
        rows = [protdescribe_row(r) for r in iter_uniprot(path)]
        for topic, count in expected.items():
            assert sum(bool(row[topic]) for row in rows) == count, (path.name, topic)
            totals[topic][0] += count
    # the fixtures alone hold >200/100/200 entries with each topic; with ../shared/data present, >300/150/350
    minimum = (300, 150, 350) if BIOPYTHON.is_dir() else (200, 100, 200)
    assert all(totals[t][0] > m for t, m in zip(("function", "subloc", "similarity"), minimum)), totals


@needs_shared
def test_sequences_equal_biopython():
    from Bio import SeqIO, SwissProt

    compared = 0
    for path in _sample_files():
        ours = list(iter_uniprot(path))
        if detect_format(path) == "xml":
            theirs = [(r.id, str(r.seq)) for r in SeqIO.parse(path, "uniprot-xml")]
        else:
            with open(path) as f:
                text = f.read().strip("\n") + "\n"  # Biopython fails on a trailing blank line (O05204.dat)
            import io

            theirs = [(r.accessions[0], r.sequence) for r in SwissProt.parse(io.StringIO(text))]
        assert [(r.accession, r.sequence) for r in ours] == theirs, path.name
        compared += len(theirs)
    assert compared > 450


def test_no_evidence_tags_or_citations_left_after_cleaning():
    for path in _sample_files():
        for record in iter_uniprot(path):
            row = protdescribe_row(record)
            for column in ("prot_name", "function", "subloc", "similarity"):
                assert "{ECO:" not in row[column] and "PubMed:" not in row[column], (record.accession, column)
                assert ".." not in row[column].replace("...", "")


def test_clean_text():
    text = ("FUNCTION: Binds X (PubMed:123, PubMed:456). Required for Y (By similarity). {ECO:0000250|UniProtKB:P1, "
            "ECO:0000269|PubMed:123}. Also Z (Ref.3) and W (in vitro).")
    assert clean_text(text) == "FUNCTION: Binds X. Required for Y (By similarity). Also Z and W (in vitro)."


def test_gzip_gives_the_same_records(tmp_path):
    compressed = tmp_path / "sample.xml.gz"
    with open(XML_2022, "rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert records(compressed) == records(XML_2022)


def _flat_entry(name="O05204.dat") -> str:
    return (UNIPROT / name).read_text().strip("\n") + "\n"


def test_malformed_flat_records_are_counted_not_fatal(tmp_path):
    good = _flat_entry()
    sequence_start = good.index("\nSQ   ") + 1
    lines = good[sequence_start:].split("\n")
    corrupt = lines[1][:5] + "MJ" + lines[1][7:]
    bad_residue = good[:sequence_start] + "\n".join([lines[0], corrupt, *lines[2:]])
    no_accession = "\n".join(line for line in good.split("\n") if not line.startswith("AC   "))
    no_sequence = good[:sequence_start] + "//\n"
    wrong_length = good.replace("507 AA;", "508 AA;", 1)
    garbage = good.replace("\nKW   ", "\n@@ garbage line\nKW   ", 1)
    no_id = "\n".join(line for line in good.split("\n") if not line.startswith("ID   "))
    truncated = good[: len(good) // 2]
    content = "".join([good, bad_residue, no_accession, no_sequence, good.replace("O05204", "X00001"), wrong_length,
                       garbage, no_id, "\n\n", truncated])
    path = tmp_path / "odd.dat"
    path.write_text(content)
    report = ParseReport()
    parsed = records(path, report=report)
    assert [r.accession for r in parsed] == ["O05204", "X00001", "O05204"]  # the last one recovered without ID
    assert parsed[2].entry_name == "" and report.recovered["no ID line (entry name left empty)"] == 1
    assert report.records_read == 9
    assert dict(report.skipped) == {
        "invalid residue in sequence": 1,
        "no AC (accession) line": 1,
        "no sequence": 1,
        "sequence length differs from the declared length": 1,
        "unreadable line": 1,
        "truncated entry at end of input (no // line)": 1,
    }
    assert report.records_parsed == 3 and "O05204" in report.examples["invalid residue in sequence"][0]
    assert "skipped 1: no sequence" in report.summary()


def test_malformed_xml_entries_are_counted_not_fatal(tmp_path):
    text = XML_2022.read_text()
    entries = re.findall(r"<entry\b.*?</entry>", text, re.S)
    head = text[: text.index("<entry")]
    broken = entries[1].replace("</protein>", "</protien>", 1)  # not well-formed
    no_sequence = re.sub(r"<sequence\b.*?</sequence>", "", entries[2], flags=re.S)
    bad_residue = re.sub(r"(<sequence\b[^>]*>)M", r"\1#", entries[3], flags=re.S)
    truncated = entries[4][: len(entries[4]) // 2]
    path = tmp_path / "odd.xml"
    path.write_text(head + "\n".join([entries[0], broken, no_sequence, bad_residue, entries[5], truncated]))
    report = ParseReport()
    parsed = records(path, report=report)
    assert len(parsed) == 2 and report.records_read == 6
    assert dict(report.skipped) == {"malformed XML entry": 1, "no sequence": 1, "invalid residue in sequence": 1,
                                    "truncated entry at end of input (no </entry>)": 1}


@needs_shared
def test_a_uniref_file_is_reported_as_a_skipped_file():
    report = ParseReport()
    assert records(BIOPYTHON / "UniRef90_P99999.xml", report=report) == []
    assert "not UniProtKB XML" in report.skipped_files[str(BIOPYTHON / "UniRef90_P99999.xml")]


def test_memory_stays_flat_as_the_input_grows(tmp_path):
    text = XML_2022.read_text()
    head, body = text.split("<entry", 1)
    body, _ = ("<entry" + body).rsplit("</uniprot>", 1)
    peaks = []
    for copies in (1, 8):
        path = tmp_path / f"x{copies}.xml"
        path.write_text(head + body * copies + "</uniprot>\n")
        tracemalloc.start()
        count = sum(1 for _ in iter_uniprot(path))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == 250 * copies
    # the input grows 8x (to 16 MB); the parser's peak stays within its read block, not the file
    assert peaks[1] < 1.5 * peaks[0]
