"""The three pipelines: outputs, batching, label sets, FASTA input, the supervised ensemble, retrieval over an index,
remote code."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from protst_hf import (
    MismatchedModelError,
    ProteinFeatureExtractionPipeline,
    ProteinTextRetrievalPipeline,
    ProtSTModel,
    ZeroShotProteinClassificationPipeline,
    read_fasta,
)
from protst_hf.cli import main as cli
from protst_hf.embedding.shards import build_index, embed_file
from utils.builders import TESTS, minimum_transformers


@pytest.fixture(scope="module")
def folder(tmp_path_factory, processor):
    """A tiny ProtST model saved with its processor: the folder carries the pipeline code and label sets."""
    from utils.builders import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model") / "protst-tiny", processor)


@pytest.fixture(scope="module")
def classify(folder, processor):
    return ZeroShotProteinClassificationPipeline(model=ProtSTModel.from_pretrained(folder).eval(), processor=processor,
                                                 precision="float32")


def test_zero_shot_output_order_probabilities_and_types(classify, rows):
    labels = ["Nucleus", "Cytoplasm", "Secreted", "Cell membrane"]
    result = classify(rows[0]["sequence"], candidate_labels=labels)
    assert set(result) == {"sequence", "labels", "scores"} and result["sequence"] == rows[0]["sequence"]
    assert sorted(result["labels"]) == sorted(labels)
    assert result["scores"] == sorted(result["scores"], reverse=True)
    assert abs(sum(result["scores"]) - 1) < 1e-5 and all(isinstance(s, float) for s in result["scores"])
    # scores are the softmax of exp(logit_scale) * cosine with label texts "[CLS] SUBCELLULAR LOCATION: x."
    model = classify.model
    batch = classify.processor(proteins=rows[0]["sequence"], text=[f"SUBCELLULAR LOCATION: {x}." for x in labels],
                               return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits_per_protein.softmax(-1)[0]
    got = dict(zip(result["labels"], result["scores"]))
    assert max(abs(got[x] - float(p)) for x, p in zip(labels, expected)) < 1e-5
    logits = classify(rows[0]["sequence"], candidate_labels=labels, return_logits=True)["logits"]
    assert len(logits) == 4


def test_batching_equals_one_by_one_and_labels_are_cached(classify, rows):
    sequences = [r["sequence"] for r in rows[:7]]
    batched = classify(sequences, label_set="subcellular_location", batch_size=3)
    alone = [classify(s, label_set="subcellular_location", batch_size=1) for s in sequences]
    assert len(batched) == 7
    for a, b in zip(batched, alone):
        assert a["labels"][0] == b["labels"][0]
        scores_a, scores_b = dict(zip(a["labels"], a["scores"])), dict(zip(b["labels"], b["scores"]))
        assert max(abs(scores_a[k] - scores_b[k]) for k in scores_a) < 1e-5
    assert len(classify._classifiers) >= 1
    calls = []
    original = classify.protst.get_text_features
    classify.protst.get_text_features = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        classify(sequences[0], label_set="subcellular_location")
    finally:
        classify.protst.get_text_features = original
    assert calls == []  # the label embeddings came from the cache


def test_builtin_label_sets(classify, rows):
    location = classify(rows[1]["sequence"], label_set="subcellular_location")
    assert len(location["labels"]) == 10 and "Extracellular" in location["labels"]
    reaction = classify(rows[1]["sequence"], label_set="reaction")
    assert len(reaction["labels"]) == 384
    with pytest.raises(ValueError, match="unknown label set"):
        classify(rows[1]["sequence"], label_set="nope")
    with pytest.raises(ValueError, match="candidate_labels"):
        classify(rows[1]["sequence"])


def test_fasta_input_with_bad_records_reported(classify, tmp_path, rows):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(f"STRAY\n>good1 first\n{rows[0]['sequence'][:40]}\n{rows[0]['sequence'][40:80]}\n>bad\nMKT1AY\n"
                     f">empty\n>good2\n{rows[1]['sequence']}*\n")
    records, problems = read_fasta(fasta)
    assert [i for i, _ in records] == ["good1", "good2"] and records[0][1] == rows[0]["sequence"][:80]
    assert len(problems) == 3 and "sequence before any '>' header" in problems[0]
    assert "record 'bad' (line 5): invalid character '1' at position 3" in problems[1]
    assert "empty sequence" in problems[2]
    with pytest.warns(UserWarning, match="3 FASTA record"):
        results = classify(str(fasta), candidate_labels=["Nucleus", "Cytoplasm"])
    assert [r["id"] for r in results] == ["good1", "good2"]


def test_feature_extraction_and_retrieval(folder, processor, rows):
    model = ProtSTModel.from_pretrained(folder).eval()
    features = ProteinFeatureExtractionPipeline(model=model, processor=processor, precision="float32")
    out = features([r["sequence"] for r in rows[:3]], texts=["FUNCTION: Binds DNA."])
    assert out["protein_embeds"].shape == (3, 16) and out["text_embeds"].shape == (1, 16)
    assert np.allclose(np.linalg.norm(out["protein_embeds"], axis=1), 1, atol=1e-5)
    raw = features([r["sequence"] for r in rows[:3]], project=False, normalize=False)["protein_embeds"]
    assert raw.shape == (3, 32)
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    proteins = [(r["accession"], r["sequence"]) for r in rows[:6]]
    hits = retrieval(rows[2]["function"], proteins=proteins, top_k=3)
    scores = [h["score"] for h in hits]
    assert len(hits) == 3 and scores == sorted(scores, reverse=True)
    everything = features([s for _, s in proteins])["protein_embeds"] @ features(texts=[rows[2]["function"]])[
        "text_embeds"][0]
    assert hits[0]["id"] == proteins[int(np.argmax(everything))][0]
    assert abs(scores[0] - float(everything.max())) < 1e-5
    texts = retrieval(rows[0]["sequence"], direction="protein-to-text", label_set="subcellular_location", top_k=10)
    assert len(texts) == 10 and texts[0]["score"] >= texts[-1]["score"]


def _run_check(python: str, folder: Path, expected: dict, tmp_path: Path) -> dict:
    expected_path = tmp_path / "expected.json"
    expected_path.write_text(json.dumps(expected))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    completed = subprocess.run([python, str(TESTS / "utils" / "pipeline_check.py"), str(folder), str(expected_path)],
                               capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _expected(folder, processor, rows) -> dict:
    model = ProtSTModel.from_pretrained(folder).eval()
    proteins = [r["sequence"] for r in rows[:3]]
    labels = ["Nucleus", "Cytoplasm", "Secreted"]
    results = ZeroShotProteinClassificationPipeline(model=model, processor=processor, precision="float32")(proteins,
                                                                                       candidate_labels=labels)
    features = ProteinFeatureExtractionPipeline(model=model, processor=processor, precision="float32")(proteins)
    features = features["protein_embeds"]
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    ids = [r["accession"] for r in rows[:3]]
    query = "SUBCELLULAR LOCATION: Nucleus."
    hits = retrieval(query, proteins=list(zip(ids, proteins)), top_k=2)
    return {"proteins": proteins, "query": query, "labels": labels, "ids": ids, "protein_embeds": features.tolist(),
            "scores": [dict(zip(r["labels"], r["scores"])) for r in results], "retrieved": [h["id"] for h in hits]}


@pytest.mark.slow
def test_pipelines_through_trust_remote_code_without_protst_hf(folder, processor, rows, tmp_path):
    report = _run_check(sys.executable, folder, _expected(folder, processor, rows), tmp_path)
    assert report["pipeline"] == "ZeroShotProteinClassificationPipeline"
    assert report["module"].startswith("transformers_modules")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PROTST_MIN_TRANSFORMERS_PYTHON"),
                    reason="set PROTST_MIN_TRANSFORMERS_PYTHON (scripts/test.sh does)")
def test_pipelines_on_the_oldest_supported_transformers(folder, processor, rows, tmp_path):
    report = _run_check(os.environ["PROTST_MIN_TRANSFORMERS_PYTHON"], folder, _expected(folder, processor, rows),
                        tmp_path)
    from packaging.version import Version

    assert Version(report["transformers"]) == Version(minimum_transformers())


def test_ensemble_with_a_supervised_head_and_calibration(folder, classify, rows):
    """The spec's ensemble alpha * zero-shot + supervised logits (columns matched by label name), and temperature
    scaling stored in the config: probabilities change, the ranking does not."""
    from protst_hf import ProtSTForSequenceClassification

    labels = ["Nucleus", "Cytoplasm", "Secreted"]
    supervised = ProtSTForSequenceClassification.from_pretrained(
        folder, num_labels=3, id2label={0: "Secreted", 1: "Nucleus", 2: "Cytoplasm"}).eval()
    sequences = [r["sequence"] for r in rows[:4]]
    zero_shot = torch.tensor([r["logits"] for r in classify(sequences, candidate_labels=labels, return_logits=True)])
    batch = classify.processor(proteins=sequences, return_tensors="pt")
    with torch.no_grad():
        head = supervised(**{k: v for k, v in batch.items() if k.startswith("protein_")}).logits[:, [1, 2, 0]]
    ensemble = classify(sequences, candidate_labels=labels, supervised_model=supervised, alpha=0.5,
                        return_logits=True)
    assert torch.allclose(torch.tensor([r["logits"] for r in ensemble]), 0.5 * zero_shot + head, atol=1e-5)
    with pytest.raises(ValueError, match="must be the candidate labels"):
        classify(sequences, candidate_labels=["Nucleus", "Plastid", "Secreted"], supervised_model=supervised)

    truth = [r["labels"][0] for r in classify(sequences * 3, candidate_labels=labels)]  # learnable: T -> small
    truth[0] = [x for x in labels if x != truth[0]][0]
    before = classify(sequences, candidate_labels=labels)
    report = classify.calibrate(sequences * 3, truth, candidate_labels=labels)
    try:
        assert classify.model.config.zero_shot_temperature == report["temperature"] > 0
        assert report["nll_after"] <= report["nll_before"] + 1e-9
        after = classify(sequences, candidate_labels=labels)
        assert [r["labels"] for r in after] == [r["labels"] for r in before]
        assert after[0]["scores"] != pytest.approx(before[0]["scores"])
    finally:
        classify.model.config.zero_shot_temperature = None
    with pytest.raises(ValueError, match="not among the candidate labels"):
        classify.calibrate(sequences, ["Nucleus", "Golgi", "Nucleus", "Nucleus"], candidate_labels=labels)


def test_a_residue_the_processor_refuses_is_refused_by_the_pipelines(classify, tmp_path):
    with pytest.raises(ValueError, match="invalid character 'J' at position 3"):
        classify("MKTJAYIAK", candidate_labels=["Nucleus", "Cytoplasm"])
    fasta = tmp_path / "j.fasta"
    fasta.write_text(">a\nMKTJAYIAK\n>b\nMKTAYIAK\n")
    with pytest.warns(UserWarning, match="record 'a' \\(line 1\\): invalid character 'J' at position 3"):
        results = classify(str(fasta), candidate_labels=["Nucleus", "Cytoplasm"])
    assert [r["id"] for r in results] == ["b"]


def test_retrieval_over_an_index_and_a_mismatched_model_is_refused(model_folder, other_folder, model, processor,
                                                                    fasta, rows, tmp_path, capsys):
    embed_file(fasta, model, processor, tmp_path / "emb", shard_size=10, progress=False)
    index = build_index(tmp_path / "emb", kind="flat")
    assert index.metadata["model"] == str(model_folder) and index.metadata["embedding"] == "protein"
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    query = rows[3]["function"]
    over_index = retrieval(query, index=index, top_k=5)
    with pytest.warns(UserWarning, match="2 FASTA record"):
        brute = retrieval(query, proteins=str(fasta), top_k=5)
    assert [h["id"] for h in over_index] == [h["id"] for h in brute]
    assert np.allclose([h["score"] for h in over_index], [h["score"] for h in brute], atol=1e-5)

    other = ProtSTModel.from_pretrained(other_folder).eval()
    with pytest.raises(MismatchedModelError, match="fingerprint"):
        ProteinTextRetrievalPipeline(model=other, processor=processor, precision="float32")(query, index=index)
    with pytest.raises(MismatchedModelError, match="index of text embeddings"):
        retrieval(rows[0]["sequence"], direction="protein-to-text", index=index)

    # the command line: embed, index, search with annotations; another model is refused with exit code 2
    assert cli(["embed", str(fasta), "--model", str(model_folder), "--output", str(tmp_path / "cli-emb"),
                "--shard-size", "10", "--quiet", "--precision", "float32"]) == 0
    assert cli(["index", "build", "--embeddings", str(tmp_path / "cli-emb"), "--output",
                str(tmp_path / "cli-index")]) == 0
    annotations = tmp_path / "names.tsv"
    annotations.write_text("".join(f"{r['accession']}\t{r['prot_name']}\n" for r in rows[:23]))
    capsys.readouterr()
    assert cli(["search", query, "--index", str(tmp_path / "cli-index"), "--top-k", "5", "--annotations",
                str(annotations)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"# {query}" and len(lines) == 6
    names = {r["accession"]: r["prot_name"] for r in rows[:23]}
    for rank, (line, hit) in enumerate(zip(lines[1:], over_index), start=1):
        assert line.split("\t") == [str(rank), hit["id"], f"{hit['score']:.4f}", names[hit["id"]]]
    assert cli(["search", query, "--index", str(tmp_path / "cli-index"), "--model", str(other_folder)]) == 2
    assert "fingerprint" in capsys.readouterr().err


def test_protein_queries_find_their_nearest_proteins(model_folder, model, processor, rows, tmp_path, capsys,
                                                     monkeypatch):
    """protein -> protein over an index of protein embeddings: the cosines of the proteins' own embeddings (a protein
    in the index finds itself first, at cosine 1), the same as brute force; `protst search --proteins` reads them from
    a plain or gzipped FASTA or standard input, and names what it skipped."""
    import gzip
    import io

    from protst_hf.models.protst.inference_protst import embed_proteins

    text = "".join(f">{r['accession']}\n{r['sequence']}\n" for r in rows[:12])
    (tmp_path / "ref.fasta").write_text(text)
    embed_file(tmp_path / "ref.fasta", model, processor, tmp_path / "emb", shard_size=5, progress=False)
    index = build_index(tmp_path / "emb", kind="flat")
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    queries = [(r["accession"], r["sequence"]) for r in rows[:3]]
    hits = retrieval(queries, direction="protein-to-protein", index=index, top_k=4)
    brute = retrieval(queries, direction="protein-to-protein", proteins=str(tmp_path / "ref.fasta"), top_k=4)
    vectors = embed_proteins(model, processor, [r["sequence"] for r in rows[:12]]).double().numpy()
    cosines = vectors[:3] @ vectors.T
    for row, (accession, _), found, forced in zip(cosines, queries, hits, brute):
        assert found[0]["id"] == accession and found[0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert [h["id"] for h in found] == [h["id"] for h in forced]
        order = np.argsort(-row, kind="stable")[:4]
        assert [h["id"] for h in found] == [rows[i]["accession"] for i in order]
        assert np.allclose([h["score"] for h in found], row[order], atol=1e-5)
    with pytest.raises(ValueError, match="direction must be one of"):
        retrieval(queries, direction="protein-to-everything", index=index)

    assert cli(["index", "build", "--embeddings", str(tmp_path / "emb"), "--output", str(tmp_path / "index")]) == 0
    queries_text = "".join(f">{a}\n{s}\n" for a, s in queries) + ">bad\nMKTJAY\n"
    (tmp_path / "q.fa.gz").write_bytes(gzip.compress(queries_text.encode()))
    (tmp_path / "q.fasta").write_text(queries_text)
    outputs = []
    for source in (tmp_path / "q.fasta", tmp_path / "q.fa.gz", "-"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(queries_text))
        capsys.readouterr()
        assert cli(["search", "--proteins", str(source), "--index", str(tmp_path / "index"), "--top-k", "4",
                    "--precision", "float32", "--chunk-size", "2"]) == 0
        out, err = capsys.readouterr()
        outputs.append(out)
        assert "skipped 1 FASTA record(s)" in err and "'bad'" in err
    assert outputs[0] == outputs[1] == outputs[2]
    lines = outputs[0].strip().splitlines()
    assert len(lines) == 3 * 5 and lines[0] == f"# {queries[0][0]}"
    for block, found in zip(range(0, 15, 5), hits):
        assert [line.split("\t")[1] for line in lines[block + 1:block + 5]] == [h["id"] for h in found]
    (tmp_path / "empty.fasta").write_text("")
    for arguments, message in ((["--proteins", str(tmp_path / "empty.fasta")], "holds no protein"),
                               (["ATP binding", "--proteins", str(tmp_path / "q.fasta")], "not both or neither"),
                               ([], "not both or neither")):
        assert cli(["search", *arguments, "--index", str(tmp_path / "index")]) == 2
        assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def skewed_folder(tmp_path_factory, processor):
    """The tiny model with a training_texts.json: trained in-batch (density-ratio scores) on texts that are mostly
    "Nucleus"."""
    from collections import Counter

    from protst_hf.models.protst.prompts_protst import write_training_texts
    from utils.builders import save_tiny_model

    path = save_tiny_model(tmp_path_factory.mktemp("skewed") / "protst-tiny", processor)
    counts = Counter({"SUBCELLULAR LOCATION: Nucleus.": 90, "SUBCELLULAR LOCATION: Cytoplasm. Nucleus.": 5,
                      "SUBCELLULAR LOCATION: Cytoplasm.": 4, "SUBCELLULAR LOCATION: Secreted.": 1})
    write_training_texts(path, counts, "in_batch")
    return path


def test_zero_shot_prior_is_bayes_rule_on_the_logits(skewed_folder, processor, rows):
    """`prior="auto"` adds the training texts' log p(class) to a density-ratio model's logits (Nucleus: 95 of 105
    statements); "uniform" leaves the original's scores; a dict gives the user's frequencies; a text-bank model's
    "auto" adds nothing."""
    model = ProtSTModel.from_pretrained(skewed_folder).eval()
    classify = ZeroShotProteinClassificationPipeline(model=model, processor=processor, precision="float32")
    labels = ["Nucleus", "Cytoplasm", "Secreted"]
    sequences = [r["sequence"] for r in rows[:6]]

    def logits(**kwargs):
        out = classify(sequences, candidate_labels=labels, return_logits=True, **kwargs)
        return torch.tensor([r["logits"] for r in out])

    uniform, auto = logits(prior="uniform"), logits()
    expected = torch.tensor([95 / 105, 9 / 105, 1 / 105]).log()
    assert torch.allclose(auto - uniform, expected.expand_as(auto), atol=1e-4)
    assert torch.allclose(logits(prior="training"), auto)
    assert all(r["labels"][0] == "Nucleus" for r in classify(sequences, candidate_labels=labels))
    given = logits(prior={"Nucleus": 1, "Cytoplasm": 1, "Secreted": 2})
    assert torch.allclose(given - uniform, torch.tensor([0.25, 0.25, 0.5]).log().expand_as(given), atol=1e-4)
    with pytest.raises(ValueError, match="no frequency"):
        logits(prior={"Nucleus": 1})
    with pytest.warns(UserWarning, match="no training text states"):
        classify(sequences[0], candidate_labels=["Nucleus", "Plastid"])
    record = json.loads((skewed_folder / "training_texts.json").read_text())
    (skewed_folder / "training_texts.json").write_text(json.dumps({**record, "objective": "text_bank"}))
    try:
        bank = ZeroShotProteinClassificationPipeline(model=ProtSTModel.from_pretrained(skewed_folder).eval(),
                                                     processor=processor, precision="float32")
        assert torch.allclose(torch.tensor([r["logits"] for r in bank(sequences, candidate_labels=labels,
                                                                       return_logits=True)]), uniform, atol=1e-5)
    finally:
        (skewed_folder / "training_texts.json").write_text(json.dumps(record))


def test_protein_to_text_search_ranks_by_posterior_with_a_prior(skewed_folder, processor, rows):
    """Protein -> text over candidate texts is the zero-shot classifier of those texts: the same probabilities as
    the classification pipeline, logits exp(logit_scale) * cosine + log p(text) with the training prior (an in-batch
    model), and no prior (a warning) when a candidate is stated by no training text."""
    model = ProtSTModel.from_pretrained(skewed_folder).eval()
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    classify = ZeroShotProteinClassificationPipeline(model=model, processor=processor, precision="float32")
    texts = ["SUBCELLULAR LOCATION: Nucleus.", "SUBCELLULAR LOCATION: Cytoplasm."]
    scale = model.logit_scale.exp().item()
    plain = retrieval(rows[0]["sequence"], direction="protein-to-text", candidate_texts=texts, prior="uniform")
    assert all(h["logit"] == pytest.approx(scale * h["cosine"], abs=1e-4) for h in plain)
    ranked = retrieval(rows[0]["sequence"], direction="protein-to-text", candidate_texts=texts)
    assert ranked[0]["text"] == texts[0]  # stated by 95 training texts, Cytoplasm by 9
    for hit in ranked:
        prior = math.log({texts[0]: 95, texts[1]: 9}[hit["text"]] / 104)
        assert hit["logit"] == pytest.approx(scale * hit["cosine"] + prior, abs=1e-4)
    same = classify(rows[0]["sequence"], candidate_labels=texts, hypothesis_template="{}")
    assert [h["text"] for h in ranked] == same["labels"]
    assert [h["score"] for h in ranked] == same["scores"]  # one classifier: identical numbers
    with pytest.warns(UserWarning, match="no training text states"):
        unseen = retrieval(rows[0]["sequence"], direction="protein-to-text",
                           candidate_texts=[*texts, "SUBCELLULAR LOCATION: Plastid."])
    assert all(h["logit"] == pytest.approx(scale * h["cosine"], abs=1e-4) for h in unseen)
    with pytest.raises(ValueError, match="a prior applies to protein -> text"):
        retrieval("SUBCELLULAR LOCATION: Nucleus.", proteins=[rows[0]["sequence"]], prior="training")
