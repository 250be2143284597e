"""Annotation references end to end with a tiny model and the GO fixture (300 Swiss-Prot proteins): build, load,
annotate, outputs, and every refusal (an unfinished build, another model, an unknown field)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from protst_hf.annotation import (
    COMPONENTS,
    AnnotationReference,
    IncompleteFolderError,
    MismatchedReferenceModelError,
    build_reference,
    class_field,
    clean_records,
    go_fields,
    write_annotations,
)
from protst_hf.cli import main as cli
from protst_hf.models.protst.modeling_protst import ProtSTModel
from utils.go_reference import GO, NAMESPACES, TEMPLATES
from utils.go_reference import reference_inputs as _inputs

pytestmark = pytest.mark.needs_mmseqs


@pytest.mark.slow
def test_cross_fitting_searches_each_drawn_protein_without_its_cluster(reference, tmp_path, monkeypatch):
    """Reference proteins as queries from families the reference lacks: no hit and no neighbour of a drawn protein
    is in its own cluster (nor is it the protein itself), the neighbours' cosines are those of the stored embeddings,
    best first, and the draw is spread over the folds and repeatable; a reference's profile-search setting reaches
    every search."""
    from protst_hf.annotation import search as search_module
    from protst_hf.embedding.shards import iter_embedding_shards

    loaded = AnnotationReference.load(reference)
    assert loaded.manifest["settings"]["search_iterations"] == 1
    count = loaded.manifest["proteins"]
    clusters = [f"c{row // 3}" for row in range(count)]  # three consecutive rows per cluster
    rows, lookup = loaded.cross_fit_lookup(clusters, proteins=30, folds=3, seed=1, workdir=tmp_path)
    assert len(rows) == 30 and len(set(rows.tolist())) == 30
    assert lookup.rows.shape == (30, loaded.manifest["settings"]["neighbours"])
    embeddings = np.concatenate([v for _, v in iter_embedding_shards(reference / "embeddings")]).astype(np.float64)
    for q, row in enumerate(rows):
        assert all(clusters[n] != clusters[row] for n in lookup.rows[q])
        assert all(clusters[t] != clusters[row] for t, _, _ in lookup.hits.get(q, []))
        np.testing.assert_allclose(lookup.similarities[q], embeddings[lookup.rows[q]] @ embeddings[row], atol=1e-5)
        assert (np.diff(lookup.similarities[q]) <= 1e-6).all()
    assert lookup.hits, "no drawn protein found a homolog outside its cluster"
    again, _ = loaded.cross_fit_lookup(clusters, proteins=30, folds=3, seed=1, workdir=tmp_path)
    np.testing.assert_array_equal(again, rows)
    with pytest.raises(ValueError, match="cluster ids for a reference of"):
        loaded.cross_fit_lookup(clusters[:-1])
    asked = []  # the searches a profile-search reference runs (the search itself: tests/data/test_splits.py)
    monkeypatch.setattr(search_module, "mmseqs_hits", lambda *a, **k: asked.append(k["iterations"]) or {})
    loaded.manifest["settings"]["search_iterations"] = 3
    loaded.cross_fit_lookup(clusters, proteins=30, folds=3, seed=1, workdir=tmp_path)
    loaded.lookup(None, None, ["MKTAYIAKQR"], embeddings=torch.from_numpy(embeddings[:1].astype(np.float32)),
                  workdir=tmp_path)
    assert asked == [3, 3, 3, 3]  # one per fold, and the query lookup


@pytest.mark.slow
def test_without_a_validation_split_the_fusion_is_cross_fitted(go_build, ontology, model, processor, tmp_path):
    """No split held out: the fusion is fitted on reference proteins cross-fitted over MMseqs2 clusters computed at
    30% identity, and the reference says so in each field and in its card."""
    proteins, fields, _, _, _ = _inputs(go_build, ontology)
    summary = build_reference(tmp_path / "ref", model, processor, proteins, fields[:1], fit_proteins=60,
                              fit_folds=3, progress=False)
    fitted = summary["fitted_on"]
    assert fitted["method"] == "cross-fitted reference proteins" and fitted["folds"] == 3
    assert fitted["proteins"] == 60 and 1 < fitted["clusters"] <= len(proteins)
    loaded = AnnotationReference.load(tmp_path / "ref")
    _, fusion, info = loaded.field(fields[0].name)
    assert info["fitted_on"] == fitted
    assert fusion.report["all"]["proteins"] <= 60
    np.testing.assert_allclose(fusion.weights.sum(1), 1.0)
    assert "60 reference proteins cross-fitted over 3 folds" in (tmp_path / "ref" / "README.md").read_text()
    with pytest.raises(ValueError, match="cluster ids for"):
        build_reference(tmp_path / "other", model, processor, proteins, fields[:1], clusters=[0, 1], progress=False)
    with pytest.raises(ValueError, match="search_iterations must be 1 or more"):
        build_reference(tmp_path / "other", model, processor, proteins, fields[:1], search_iterations=0,
                        progress=False)
    assert not (tmp_path / "other").exists()  # refused before anything is written


def test_go_fields_hold_the_true_path_terms_of_each_protein(go_build, ontology):
    splits, _ = go_build
    fields, sets = go_fields(splits["train"], ontology, TEMPLATES, NAMESPACES)
    for field in fields:
        for row, terms in enumerate(sets[field.name]):
            assert {field.ids[i] for i in field.table.row(row)} == terms
        position = {t: i for i, t in enumerate(field.ids)}
        for term, parents in zip(field.ids, field.parents):  # every in-namespace parent of a label is a label
            assert {field.ids[p] for p in parents} == {p for p in ontology.parents.get(term, ()) if p in position}
        assert field.prompts[0][0] == TEMPLATES[field.name].format(field.names[0])


@pytest.mark.slow
def test_annotation_is_the_fitted_fusion_consistent_with_the_ontology(reference, go_build, model, processor,
                                                                      tmp_path):
    loaded = AnnotationReference.load(reference)
    assert loaded.field_names == list(NAMESPACES)
    splits, _ = go_build
    queries = [(r["accession"], r["sequence"]) for r in splits["test"]]
    results = list(loaded.annotate(model, processor, queries, "molecular_function", chunk_size=25))
    assert [i for ids, *_ in results for i in ids] == [a for a, _ in queries]
    labels, fusion, info = loaded.field("go_function")  # the ProtDescribe column names the field too
    assert labels.name == "molecular_function"
    np.testing.assert_allclose(fusion.weights.sum(1), 1.0)
    assert set(info["fusion"]["report"]) >= {"all", "no hit"}
    for ids, scores, evidence, bins, _supporters in results:
        assert scores.shape == (len(ids), len(labels.ids)) and scores.min() >= 0 and scores.max() <= 1
        np.testing.assert_array_equal(scores, fusion.fuse(evidence, bins))
        assert set(evidence) == set(COMPONENTS)
        for child, parents in enumerate(labels.parents):  # no term above an ancestor
            for parent in parents:
                assert (scores[:, parent] >= scores[:, child] - 1e-6).all()
    # the outputs: long TSV with the evidence shares, and CAFA's format
    written = write_annotations(tmp_path / "out.tsv", results, labels, fusion, top_k=5, cafa=tmp_path / "out.cafa")
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0] == "id\tlabel_id\tname\tscore\tevidence\tsupport" and len(lines) == written + 1
    first = lines[1].split("\t")
    shares = dict(part.split("=") for part in first[4].split(";"))
    # up to four shares printed to 3 decimals (each off by <= 5e-4) and the score to 4 (<= 5e-5)
    assert first[1].startswith("GO:") and abs(sum(map(float, shares.values())) - float(first[3])) <= 4 * 5e-4 + 5e-5
    cafa = (tmp_path / "out.cafa").read_text().splitlines()
    assert cafa[:2] == ["AUTHOR protst-hf", "MODEL 1"] and cafa[-1] == "END"
    assert all(0 < float(line.split("\t")[2]) <= 1 for line in cafa[3:-1])


def test_all_fields_in_one_pass_search_once_and_score_as_each_field_alone(reference, go_build, model, processor,
                                                                         monkeypatch):
    """`annotate_fields(..., ["all"])` embeds and searches each chunk once for every field of the reference, and
    gives each field exactly the scores its own `annotate` gives."""
    from protst_hf.annotation import search as search_module

    loaded = AnnotationReference.load(reference)
    splits, _ = go_build
    queries = [(r["accession"], r["sequence"]) for r in splits["test"]]
    alone = {f: list(loaded.annotate(model, processor, queries, f, chunk_size=25)) for f in NAMESPACES}
    searches = []
    real = search_module.mmseqs_hits
    monkeypatch.setattr(search_module, "mmseqs_hits", lambda *a, **k: searches.append(1) or real(*a, **k))
    together = list(loaded.annotate_fields(model, processor, queries, ["all"], chunk_size=25))
    assert len(searches) == len(together) == -(-len(queries) // 25)  # one search per chunk, not one per field
    assert loaded.fields(["all"]) == list(NAMESPACES) and loaded.fields(["go_component"]) == ["cellular_component"]
    for field in NAMESPACES:
        for (ids, scored), (ids_alone, scores, evidence, bins, _) in zip(together, alone[field]):
            assert set(scored[field][1]) == set(evidence)
            assert ids == ids_alone
            np.testing.assert_array_equal(scored[field][0], scores)
            np.testing.assert_array_equal(scored[field][2], bins)


def test_several_fields_need_a_field_placeholder_in_the_output_paths():
    from protst_hf.cli.annotate import outputs

    fields = ["molecular_function", "cellular_component"]
    assert outputs("out.{field}.tsv", fields, "--output") == {f: f"out.{f}.tsv" for f in fields}
    assert outputs("mf.tsv", fields[:1], "--output") == {"molecular_function": "mf.tsv"}
    assert outputs(None, fields, "--cafa") == {f: None for f in fields}
    with pytest.raises(ValueError, match=r"put \{field\} in the path"):
        outputs("out.tsv", fields, "--output")


@pytest.mark.slow
def test_an_unfinished_build_is_refused_then_resumed(reference, go_build, ontology, model, processor, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(reference, killed)
    (killed / "reference.json").unlink()
    shutil.rmtree(killed / "fields")
    with pytest.raises(IncompleteFolderError, match="Rerun the same"):
        AnnotationReference.load(killed)
    proteins, fields, _, validation, labels = _inputs(go_build, ontology)
    summary = build_reference(killed, model, processor, proteins, fields, validation, labels, model_name="tiny",
                              progress=False)
    assert summary["embedding"]["written"] == [] and summary["embedding"]["skipped_complete"] == [0]
    resumed, first = AnnotationReference.load(killed), AnnotationReference.load(reference)
    assert resumed.manifest["fields"] == first.manifest["fields"]
    with pytest.raises(ValueError, match="finished reference"):
        build_reference(killed, model, processor, proteins, fields, validation, labels, progress=False)


def test_another_model_and_an_unknown_field_are_refused(reference, other_folder):
    loaded = AnnotationReference.load(reference)
    with pytest.raises(MismatchedReferenceModelError, match="embedded with 'tiny'"):
        loaded.check_model(ProtSTModel.from_pretrained(other_folder))
    with pytest.raises(ValueError, match="no field 'subcellular_location'; its fields: molecular_function, "
                                         "cellular_component"):
        loaded.field("subcellular_location")


@pytest.mark.slow
def test_a_single_label_field_gives_class_distributions(go_build, model, processor, tmp_path):
    splits, _ = go_build
    classes = ["short", "long"]

    def size(row):
        return ["long" if len(row["sequence"]) > 300 else "short"]

    proteins, _ = clean_records((r["accession"], r["sequence"]) for r in splits["train"])
    field = class_field("length_class", classes, [size(r) for r in splits["train"]],
                        [["LENGTH: short."], ["LENGTH: long."]])
    validation = [(r["accession"], r["sequence"]) for r in splits["validation"]]
    labels = {"length_class": [[classes.index(size(r)[0])] for r in splits["validation"]]}
    build_reference(tmp_path / "ref", model, processor, proteins, [field], validation, labels, progress=False)
    loaded = AnnotationReference.load(tmp_path / "ref")
    queries = [(r["accession"], r["sequence"]) for r in splits["test"]]
    (ids, scores, evidence, bins, _), = loaded.annotate(model, processor, queries, "length_class")
    np.testing.assert_allclose(evidence["text"].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(evidence["prior"].sum(), 1.0, rtol=1e-5)
    with_hits = bins > 0
    np.testing.assert_allclose(scores[with_hits].sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="not among"):
        class_field("x", classes, [["medium"]], [["a"], ["b"]])


@pytest.mark.slow
def test_reference_and_annotate_commands(go_build, model_folder, other_folder, tmp_path, capsys):
    _, folder = go_build
    build = ["reference", "build", "--dataset", str(folder), "--model", str(model_folder), "--go-terms",
             str(GO / "go_terms.tsv"), "--go-graph", str(GO / "go_graph.tsv"), "--namespaces", "molecular_function",
             "--template", "MOLECULAR FUNCTION: {}.", "--quiet", "--output"]
    assert cli(build + [str(tmp_path / "ref")]) == 0
    fitted = AnnotationReference.load(tmp_path / "ref").field("molecular_function")[2]["fitted_on"]
    assert fitted["method"] == "cross-fitted reference proteins"  # the default: no split held out to fit on
    assert "reference of" in capsys.readouterr().out
    assert cli(build + [str(tmp_path / "mixed"), "--reference-split", "train+validation", "--fit-split",
                        "validation"]) == 2
    assert "must be apart from the reference split" in capsys.readouterr().err
    loud = [a for a in build if a != "--quiet"]  # every step over a few seconds says where the build is
    assert cli(loud + [str(tmp_path / "corpus"), "--reference-split", "train+test"]) == 0  # cross-fitted too
    err = capsys.readouterr().err
    assert "cross-fit fold 1/" in err and "fitting the fusion of molecular_function" in err and "indexing" in err
    splits, _ = go_build
    assert AnnotationReference.load(tmp_path / "corpus").manifest["proteins"] == \
        len(splits["train"]) + len(splits["test"])
    capsys.readouterr()
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKW\n"
                     ">broken\nMKV$LL\n>q2\nMSDNKKPLVLGLVGAPGSGKGTQAELLAKRLGLPHISTGDLLRAEVKAGTPLGKEAK\n")
    annotate = ["annotate", str(fasta), "--reference", str(tmp_path / "ref"), "--output", str(tmp_path / "a.tsv")]
    assert cli(annotate + ["--field", "molecular_function", "--cafa", str(tmp_path / "a.cafa")]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 input record(s): record 'broken'" in captured.err
    lines = (tmp_path / "a.tsv").read_text().splitlines()
    assert lines[0].startswith("# protst annotate, molecular_function; reference: ref; model: ")  # what made it
    ids = {line.split("\t")[0] for line in lines[2:]}
    assert ids == {"q1", "q2"}
    assert cli(annotate + ["--field", "cellular_component"]) == 2
    assert "its fields: molecular_function" in capsys.readouterr().err
    assert cli(annotate + ["--field", "molecular_function", "--model", str(other_folder)]) == 2
    assert "embedded with" in capsys.readouterr().err
    (tmp_path / "ref" / "reference.json").unlink()
    assert cli(annotate + ["--field", "molecular_function"]) == 2
    assert "not a complete annotation reference" in capsys.readouterr().err


@pytest.mark.distributed
@pytest.mark.slow
def test_accelerate_launch_builds_one_reference_with_two_processes(go_build, model_folder, tmp_path):
    """Under `accelerate launch` each process embeds its shards; one complete reference comes out."""
    _, folder = go_build
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", str(29500 + os.getpid() % 200), "-m", "protst_hf.cli"]
    build = ["reference", "build", "--dataset", str(folder), "--model", str(model_folder), "--go-terms",
             str(GO / "go_terms.tsv"), "--go-graph", str(GO / "go_graph.tsv"), "--namespaces", "cellular_component",
             "--template", "CELLULAR COMPONENT: {}.", "--shard-size", "40", "--quiet", "--output",
             str(tmp_path / "ref")]
    completed = subprocess.run(launch + build, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    loaded = AnnotationReference.load(tmp_path / "ref")
    embedded = loaded.manifest["build"]["embedding"]
    assert loaded.manifest["build"]["processes"] == 2
    assert embedded["written"] and all(shard % 2 == 0 for shard in embedded["written"])  # process 0's: 0, 2, ...
    assert len(loaded.index) == loaded.manifest["proteins"]


@pytest.mark.slow
def test_a_reference_pushes_to_the_hub_and_loads_back(reference, tmp_path):
    """`protst push REF` sends a finished reference to a dataset repository (an unfinished one is refused), and
    `AnnotationReference.load("org/name")` reads it back (the local Hub-compatible server of tests/utils)."""
    from utils.hub_server import HubServer

    unfinished = tmp_path / "unfinished"
    shutil.copytree(reference, unfinished)
    (unfinished / "reference.json").unlink()
    load = ("from protst_hf.annotation import AnnotationReference\n"
            "r = AnnotationReference.load('org/go-reference')\n"
            "labels, fusion, info = r.field('molecular_function')\n"
            "print(r.manifest['proteins'], len(labels.ids), len(r.index))")
    with HubServer() as hub:
        env = hub.env(str(tmp_path / "home"))
        push = [sys.executable, "-m", "protst_hf.cli", "push"]
        done = subprocess.run(push + [str(reference), "--repo", "org/go-reference"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0 and "pushed:" in done.stdout, done.stderr[-3000:]
        assert {"reference.json", "README.md", "proteins.fasta", "index/index.faiss"} <= \
            set(hub.files("org/go-reference", repo_type="dataset"))
        refused = subprocess.run(push + [str(unfinished), "--repo", "org/x", "--kind", "reference"], env=env,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "not a complete annotation reference" in refused.stderr
        loaded = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True, text=True, timeout=300,
                                cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    manifest = AnnotationReference.load(reference).manifest
    labels = AnnotationReference.load(reference).field("molecular_function")[0]
    assert loaded.stdout.split() == [str(manifest["proteins"]), str(len(labels.ids)), str(manifest["proteins"])]
