"""ProtDescribe builds: counts, MMseqs2 splits, leakage, datasets loading, cards, push."""

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from protst_hf.cli import main as cli
from protst_hf.data.protdescribe import PROTDESCRIBE_FEATURES, build_protdescribe
from protst_hf.data.splits import MMseqsNotFound, mmseqs_path
from utils.builders import FIXTURES

UNIPROT = FIXTURES / "uniprot"

INPUTS = [UNIPROT / "uniprot_sprot_2022_250entries.xml", *sorted(UNIPROT.glob("*.dat")),
          *sorted(UNIPROT.glob("*.txl"))]




def rows_by_split(folder: Path) -> dict[str, list[dict]]:
    result = {}
    for split in ("train", "validation", "test"):
        result[split] = [row for shard in sorted((folder / "data").glob(f"{split}-*.parquet"))
                         for row in pq.read_table(shard).to_pylist()]
    return result


@pytest.fixture(scope="module")
def benchmark_file(tmp_path_factory):
    """Five dataset proteins copied exactly, and three random sequences."""
    import numpy as np

    from protst_hf.data.uniprot import iter_uniprot

    picked = [r.sequence for r in iter_uniprot(INPUTS[0])][::50][:5]
    rng = np.random.default_rng(0)
    random = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 200)) for _ in range(3)]
    path = tmp_path_factory.mktemp("bench") / "benchmark.csv"
    path.write_text("id,sequence\n" + "".join(f"b{i},{s}\n" for i, s in enumerate(picked + random)))
    return path, picked


@pytest.fixture(scope="module")
def built(tmp_path_factory, benchmark_file):
    if mmseqs_path() is None:
        pytest.skip("MMseqs2 is not installed")
    folder = tmp_path_factory.mktemp("protdescribe")
    report = build_protdescribe(INPUTS, folder, split="mmseqs", identity=0.5, ratios=(0.8, 0.1, 0.1),
                                leakage_against=[benchmark_file[0]], progress=False, rows_per_shard=100)
    return folder, report


@pytest.mark.needs_mmseqs
@pytest.mark.slow
def test_build_report_counts(built):
    folder, report = built
    rows = report["rows"]
    assert report["parse"]["records_read"] == 250 + 60 and report["parse"]["records_parsed"] == 310
    assert rows["parsed"] == 310 and rows["no_description_text"] == 0
    # identical sequence and texts: 12 in the 2022 XML sample, 4 among the two entry versions (.dat/.txl) of a protein
    assert rows["exact_duplicates"] == 16
    assert rows["rows_after_deduplication"] == 294 == sum(rows["written"].values())
    assert rows["original_config_rows"] == 310
    assert rows["written"]["validation"] == 29 and rows["written"]["test"] == 29  # round(0.1 * 294)
    assert json.loads((folder / "build_report.json").read_text()) == report
    assert report["newest_entry_date"] == "2024-10-02"
    assert 0.99 <= report["field_coverage"]["prot_name"] <= 1.0 and report["field_coverage"]["function"] > 0.7


@pytest.mark.needs_mmseqs
@pytest.mark.slow
def test_no_cluster_crosses_splits_and_clusters_are_mmseqs_clusters(built, tmp_path):
    folder, report = built
    splits = rows_by_split(folder)
    split_of_cluster = defaultdict(set)
    for split, rows in splits.items():
        for row in rows:
            split_of_cluster[row["cluster"]].add(split)
    assert all(len(s) == 1 for s in split_of_cluster.values())
    assert len(split_of_cluster) == report["split"]["clusters"] > 20
    # an independent MMseqs2 run over the written sequences gives the same partition
    everything = [row for rows in splits.values() for row in rows]
    fasta = tmp_path / "all.fasta"
    fasta.write_text("".join(f">{i}\n{row['sequence']}\n" for i, row in enumerate(everything)))
    subprocess.run(["mmseqs", "easy-cluster", str(fasta), str(tmp_path / "c"), str(tmp_path / "work"),
                    "--min-seq-id", "0.5", "-c", "0.8", "--cov-mode", "0", "-v", "1"], check=True)
    independent = {}
    for line in (tmp_path / "c_cluster.tsv").read_text().splitlines():
        representative, member = line.split("\t")
        independent[int(member)] = representative
    ours = {i: row["cluster"] for i, row in enumerate(everything)}
    pairs = [(i, j) for i in range(0, len(everything), 3) for j in range(i + 1, len(everything), 7)]
    assert all((ours[i] == ours[j]) == (independent[i] == independent[j]) for i, j in pairs)


@pytest.mark.needs_mmseqs
def test_leakage_report(built, benchmark_file):
    _, report = built
    leakage = report["leakage"][str(benchmark_file[0])]
    assert leakage["proteins"] == 8 and leakage["identity"] == 0.5
    # each copied protein hits (at least) the split holding its own row; random sequences hit nothing
    assert 5 <= sum(leakage["proteins_with_hit"].values()) <= 5 * 3
    assert max(leakage["proteins_with_hit"].values()) <= 5
    assert leakage["fraction_with_hit"]["train"] == round(leakage["proteins_with_hit"]["train"] / 8, 4)


@pytest.mark.needs_mmseqs
def test_remove_leaking_rows(tmp_path, benchmark_file):
    path, picked = benchmark_file
    report = build_protdescribe(INPUTS[:1], tmp_path, split="random", leakage_against=[path], remove_leaking=True,
                                progress=False, with_original=False)
    removed = report["rows"]["removed_for_leakage"]
    assert sum(removed.values()) == report["leakage"][str(path)]["rows_hit"] >= 5
    remaining = {row["sequence"] for rows in rows_by_split(tmp_path).values() for row in rows}
    assert not remaining & set(picked)
    kept = report["rows"]["rows_after_deduplication"] - sum(removed.values())
    assert sum(report["rows"]["written"].values()) == kept


@pytest.mark.needs_mmseqs
def test_load_dataset_offline_features_streaming_and_card(built):
    folder, report = built
    # a private cache: `load_dataset(folder)` keys its cache by the folder's name and layout, not its content
    cache = str(folder.parent / f"{folder.name}_hf_cache")
    dataset = load_dataset(str(folder), cache_dir=cache)
    assert {k: len(v) for k, v in dataset.items()} == report["rows"]["written"]
    assert dataset["train"].features == PROTDESCRIBE_FEATURES
    assert dataset["train"].to_list() == rows_by_split(folder)["train"]
    streamed = load_dataset(str(folder), split="validation", streaming=True, cache_dir=cache)
    assert [row["accession"] for row in streamed] == dataset["validation"]["accession"]
    original = load_dataset(str(folder), "original", split="train", cache_dir=cache)
    assert original.column_names == ["Sequence", "ProteinName", "Function", "SubcellularLocation", "Similarity"]
    assert len(original) == 310 and any("{ECO:" in text for text in original["Function"])
    card = DatasetCard.load(folder / "README.md")
    assert card.data.license == "cc-by-4.0"
    assert [c["config_name"] for c in card.data.configs] == ["default", "original"]
    assert "MMseqs2 clusters at 50% identity" in card.text and "exact duplicates removed: 16" in card.text
    assert len(list((folder / "data").glob("train-*-of-*.parquet"))) == -(-report["rows"]["written"]["train"] // 100)


def test_missing_mmseqs_is_a_clear_error_and_random_is_explicit(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mmseqs on PATH
    with pytest.raises(MMseqsNotFound, match="--split random"):
        build_protdescribe(INPUTS[:1], tmp_path / "out", split="mmseqs", progress=False)
    assert cli(["build-protdescribe", str(INPUTS[0]), "--output", str(tmp_path / "cli"), "--quiet"]) == 2
    assert "apt-get install mmseqs2" in capsys.readouterr().err
    report = build_protdescribe(INPUTS[:1], tmp_path / "random", split="random", seed=3, progress=False)
    assert report["split"]["method"] == "random" and sum(report["rows"]["written"].values()) == 238
    split_of_sequence = defaultdict(set)
    for split, rows in rows_by_split(tmp_path / "random").items():
        for row in rows:
            split_of_sequence[row["sequence"]].add(split)
    assert all(len(s) == 1 for s in split_of_sequence.values())


def test_zero_usable_records_fail_fast(tmp_path):
    path = tmp_path / "empty.dat"
    path.write_text("ID   BROKEN\nDE   nothing else\n//\n")
    with pytest.raises(ValueError, match="no usable UniProt records"):
        build_protdescribe([path], tmp_path / "out", split="none", progress=False)


def test_push_without_token_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    code = cli(["build-protdescribe", str(INPUTS[0]), "--output", str(tmp_path / "out"), "--split", "none",
                "--quiet", "--push-to-hub", "org/protdescribe"])
    assert code == 2 and "no Hugging Face token" in capsys.readouterr().err


@pytest.mark.slow
def test_push_round_trip_and_load_dataset_from_the_hub(tmp_path):
    from utils.hub_server import HubServer

    script = f"""
import json, sys
from protst_hf.cli import main
code = main(["build-protdescribe", {str(INPUTS[0])!r}, "--output", {str(tmp_path / "built")!r}, "--split", "random",
             "--split-ratios", "0.8", "0.1", "0.1", "--quiet", "--push-to-hub", "org/protdescribe-test"])
assert code == 0
from protst_hf.hub.push import push_folder
push_folder({str(tmp_path / "built")!r}, "org/protdescribe-test", repo_type="dataset")  # re-push: no new commit
from datasets import load_dataset
remote = load_dataset("org/protdescribe-test")
local = load_dataset({str(tmp_path / "built")!r})
assert all(remote[s].to_list() == local[s].to_list() for s in local), "rows differ"
original = load_dataset("org/protdescribe-test", "original", split="train")
print(json.dumps({{s: len(remote[s]) for s in remote}} | {{"original": len(original)}}))
"""
    with HubServer() as hub:
        completed = subprocess.run([sys.executable, "-c", script], env=hub.env(str(tmp_path / "home")),
                                   capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr[-3000:]
        counts = json.loads(completed.stdout.strip().splitlines()[-1])
        assert sum(counts[s] for s in ("train", "validation", "test")) == 238 and counts["original"] == 250
        files = hub.files("org/protdescribe-test", repo_type="dataset")
        assert {"README.md", "build_report.json"} <= set(files) and not hub.unhandled
        assert sum(1 for r in hub.requests if "/commit/" in r and r.startswith("POST")) == 1
        assert any("lfs-upload" in r for r in hub.requests)  # parquet shards went through LFS
    os.environ.get("HF_ENDPOINT")  # this process's endpoint is untouched


def _broken_inputs(folder: Path) -> dict[str, Path]:
    """The broken inputs users meet: a cut download (gzip, XML), an empty file, binary data, a directory, text."""
    import gzip

    flat = (UNIPROT / "P05067.dat").read_text() * 40  # about 6 MB of text, so the cut lands mid-stream
    whole = folder / "whole.dat.gz"
    whole.write_bytes(gzip.compress(flat.encode()))
    data = whole.read_bytes()
    paths = {"truncated gzip": folder / "cut.dat.gz", "truncated XML": folder / "cut.xml",
             "empty file": folder / "empty.dat", "binary file": folder / "random.bin",
             "directory": folder / "a_directory", "not UniProt": folder / "notes.txt"}
    paths["truncated gzip"].write_bytes(data[: len(data) // 2])
    xml = (UNIPROT / "uniprot_sprot_2022_250entries.xml").read_text()
    paths["truncated XML"].write_text(xml[: len(xml) // 2])
    paths["empty file"].write_text("")
    paths["binary file"].write_bytes(bytes(range(256)) * 40)
    paths["directory"].mkdir()
    paths["not UniProt"].write_text("sequence,label\nMKTAYIAK,1\n")
    return paths


@pytest.mark.parametrize("kind, message", [
    ("truncated gzip", r"cut\.dat\.gz: gzip stream truncated after [0-9.]+ MB of text; \d+ entries read before it"),
    ("truncated XML", r"cut\.xml: XML ends inside an <entry> \(the file is cut off\); \d+ entries read before it"),
    ("empty file", r"empty\.dat: empty file"),
    ("binary file", r"random\.bin: binary data, not UniProtKB text"),
    ("directory", r"a_directory is a directory, not a UniProt file"),
    ("not UniProt", r"notes\.txt: not UniProtKB"),
])
def test_a_broken_input_is_one_clear_line_and_leaves_no_output(tmp_path, capsys, kind, message):
    import re

    path = _broken_inputs(tmp_path)[kind]
    output = tmp_path / "out"
    code = cli(["build-protdescribe", str(path), "--output", str(output), "--split", "none", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and re.search(message, err), err
    assert not output.exists() and not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_records_before_the_damage_are_counted_and_a_good_build_replaces_an_old_one(tmp_path):
    from protst_hf.data.uniprot import ParseReport, iter_uniprot

    path = _broken_inputs(tmp_path)["truncated gzip"]
    report = ParseReport()
    records = list(iter_uniprot(path, report))
    entries = int(re.search(r"(\d+) entries read before it", report.damaged_files[str(path)]).group(1))
    assert entries == len(records) == report.records_parsed > 0  # the cut entry is counted as truncated too
    assert report.skipped["truncated entry at end of input (no // line)"] == 1
    output = tmp_path / "out"
    first = build_protdescribe([UNIPROT / "P05067.dat"], output, split="none", progress=False, with_original=False)
    second = build_protdescribe([UNIPROT / "O05204.dat"], output, split="none", progress=False, with_original=False)
    assert first["inputs"] != second["inputs"]
    assert json.loads((output / "build_report.json").read_text())["inputs"] == second["inputs"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds something else than a ProtDescribe build"):
        build_protdescribe([UNIPROT / "O05204.dat"], tmp_path / "mine", split="none", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
