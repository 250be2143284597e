"""UniProt parsing speed and memory: protst-hf's streaming parsers against Biopython, in one run.

    python -m benchmarks.bench_uniprot_parse [--copies 20]

Inputs are the real Swiss-Prot samples (the 2022 XML sample and the flat-file entries in tests/fixtures/uniprot,
plus ../shared/data's 2014 flat file when present), repeated 1x and N x into one file per format. Both parsers
consume every record of the same file (records are not kept); each timing is the best of 3. Memory is the peak of
the Python heap while a fresh process parses (tracemalloc), at 1x and N x: flat means the parser never holds the
input. Prints records/s, the speed ratio, and the two peaks.
"""

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "uniprot"
SWISS100 = ROOT.parent / "shared" / "data" / "swissprot_flatfile_libswiss" / "SWISS100.dat"


def make_inputs(folder: Path, copies: int) -> tuple[Path, Path]:
    xml = (FIXTURES / "uniprot_sprot_2022_250entries.xml").read_text()
    head, body = xml.split("<entry", 1)
    body, _ = ("<entry" + body).rsplit("</uniprot>", 1)
    xml_path = folder / f"sample_x{copies}.xml"
    xml_path.write_text(head + body * copies + "</uniprot>\n")
    flat_files = sorted(FIXTURES.glob("*.dat")) + ([SWISS100] if SWISS100.exists() else [])
    flat = "".join(p.read_text().strip("\n") + "\n" for p in flat_files)  # Biopython rejects trailing blank lines
    flat_path = folder / f"sample_x{copies}.dat"
    flat_path.write_text(flat * copies)
    return xml_path, flat_path


def count(iterator) -> int:
    n = 0
    for _ in iterator:
        n += 1
    return n


def best_rate(parse, path: Path, repeats: int = 3) -> tuple[int, float]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        n = parse(path)
        best = min(best, time.perf_counter() - start)
    return n, n / best


def peak_heap_mb(fmt: str, path: Path) -> float:
    code = (f"from protst_hf.data.uniprot import iter_uniprot\n"
            f"import tracemalloc; tracemalloc.start()\n"
            f"n = sum(1 for _ in iter_uniprot({str(path)!r}, fmt={fmt!r}))\n"
            f"print(tracemalloc.get_traced_memory()[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1e6


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    from Bio import SeqIO, SwissProt

    from protst_hf.data.uniprot import iter_uniprot

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        small = make_inputs(Path(tmp), 1)
        large = make_inputs(Path(tmp), args.copies)
        print(f"{'format':<6} {'records':>8} {'protst-hf rec/s':>16} {'Biopython rec/s':>16} {'ratio':>6}")
        for fmt, ours, theirs, path in (
            ("xml", lambda p: count(iter_uniprot(p, fmt="xml")), lambda p: count(SeqIO.parse(p, "uniprot-xml")),
             large[0]),
            ("flat", lambda p: count(iter_uniprot(p, fmt="flat")), lambda p: count(SwissProt.parse(open(p))),
             large[1]),
        ):
            n, ours_rate = best_rate(ours, path)
            m, theirs_rate = best_rate(theirs, path)
            assert n == m, (n, m)
            print(f"{fmt:<6} {n:>8} {ours_rate:>16,.0f} {theirs_rate:>16,.0f} {ours_rate / theirs_rate:>5.1f}x")
        print(f"\npeak Python heap while protst-hf parses (1x vs {args.copies}x the sample):")
        for index, fmt in ((0, "xml"), (1, "flat")):
            sizes = [p[index].stat().st_size / 1e6 for p in (small, large)]
            peaks = [peak_heap_mb(fmt, p[index]) for p in (small, large)]
            print(f"  {fmt:<5} input {sizes[0]:6.1f} MB -> peak {peaks[0]:5.1f} MB;  input {sizes[1]:6.1f} MB -> "
                  f"peak {peaks[1]:5.1f} MB")


if __name__ == "__main__":
    main()
