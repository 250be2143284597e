"""One zero-shot classifier (zero_shot_protst.ZeroShotClassifier) behind every zero-shot score: the classification
pipeline, the retrieval pipeline over the same labels, validation during pretraining, and both learning benchmarks
give the same ranking and the same numbers for one model and label set."""

from collections import Counter

import numpy as np
import pytest
import torch

from protst_hf import ProteinTextRetrievalPipeline, ProtSTModel, ZeroShotProteinClassificationPipeline
from protst_hf.models.protst.inference_protst import embed_proteins, embed_texts
from protst_hf.models.protst.prior_protst import expected_label_count
from protst_hf.models.protst.prompts_protst import read_training_texts, training_text_record, write_training_texts
from protst_hf.models.protst.texts_protst import text_key
from protst_hf.models.protst.zero_shot_protst import ZeroShotClassifier, class_logits, label_probabilities
from protst_hf.training.validation import ZeroShotSet, zero_shot_classifier

LOCATIONS = ["Nucleus", "Cytoplasm", "Secreted", "Mitochondrion"]
# an in-batch run on the default four-field ProtDescribe texts (the main job's kind of model)
COUNTS = Counter({text_key({"prot_name": "Histone H4", "subloc": "SUBCELLULAR LOCATION: Nucleus."}): 40,
                  text_key({"prot_name": "Actin", "subloc": "SUBCELLULAR LOCATION: Cytoplasm. Nucleus."}): 10,
                  text_key({"prot_name": "Insulin", "subloc": "SUBCELLULAR LOCATION: Secreted."}): 7,
                  text_key({"prot_name": "ATP synthase", "subloc": "SUBCELLULAR LOCATION: Mitochondrion."}): 3})


@pytest.fixture(scope="module")
def folder(tmp_path_factory, processor):
    from utils.builders import save_tiny_model

    path = save_tiny_model(tmp_path_factory.mktemp("zs") / "protst-four-field", processor)
    write_training_texts(path, COUNTS, "in_batch")
    return path


@pytest.fixture(scope="module")
def model(folder):
    return ProtSTModel.from_pretrained(folder).eval()


@pytest.fixture(scope="module")
def sequences(rows):
    return [r["sequence"] for r in rows[:9]]


def test_every_path_scores_alike(folder, model, processor, sequences):
    record = read_training_texts(folder / "training_texts.json")
    template = "SUBCELLULAR LOCATION: {}."
    prompts = [[template.format(x)] for x in LOCATIONS]
    classifier = ZeroShotClassifier.build(model, processor, LOCATIONS, prompts, record)
    assert classifier.log_prior is not None and "density ratios" in classifier.reasons["prior"]
    proteins = embed_proteins(model, processor, sequences)
    expected = classifier.probabilities(proteins).numpy()
    # the pipelines embed proteins in other batch shapes: float32 cosines of unit vectors then differ by a few
    # rounding steps of their reductions (under 4e-6), which a softmax carries over at most scaled by exp(logit_scale)
    tolerance = 4e-6 * classifier.scale

    # 1. the classification pipeline, with `field` naming a field of the four-field texts (by heading and column)
    classify = ZeroShotProteinClassificationPipeline(model=model, processor=processor, precision="float32")
    for field in ("subcellular_location", "subloc"):
        results = classify(sequences, candidate_labels=LOCATIONS, field=field)
        got = np.array([[dict(zip(r["labels"], r["scores"]))[x] for x in LOCATIONS] for r in results])
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)
    # 2. the retrieval pipeline over the same labels: the same classifier, so the same numbers exactly
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    for sequence, result in zip(sequences, results):
        hits = retrieval(sequence, direction="protein-to-text", candidate_texts=LOCATIONS, field="subloc")
        assert [h["text"] for h in hits] == result["labels"] and [h["score"] for h in hits] == result["scores"]
    # 3. validation during pretraining: the run's record (as exported) and the same choices
    run_record = training_text_record(COUNTS, "in_batch")
    zero_shot = ZeroShotSet(sequences, [[0]] * len(sequences), LOCATIONS, prompts)
    embeds = embed_texts(model, processor, [p[0] for p in prompts])
    validator = zero_shot_classifier(model, zero_shot, run_record, embeds)
    assert torch.equal(validator.logits(proteins).argmax(-1), torch.as_tensor(expected.argmax(1)))
    assert torch.allclose(validator.log_prior, classifier.log_prior)
    np.testing.assert_allclose(validator.probabilities(proteins).numpy(), expected, rtol=0, atol=1e-6)
    # 4. the GO benchmark's multi-label scores and the DeepLoc benchmark's variants
    from protst_hf.evaluation.go import zero_shot_term_scores

    multi = zero_shot_term_scores(model, processor, record, proteins, [p[0] for p in prompts])
    piped = classify(sequences, candidate_labels=LOCATIONS, field="subcellular_location", multi_label=True)
    got = np.array([[dict(zip(r["labels"], r["scores"]))[x] for x in LOCATIONS] for r in piped])
    np.testing.assert_allclose(multi, got, rtol=0, atol=tolerance * classifier.label_count)


def test_multi_label_scores_scale_the_posterior_by_the_expected_label_count(model, processor, sequences, folder):
    record = read_training_texts(folder / "training_texts.json")
    prompts = [[f"SUBCELLULAR LOCATION: {x}."] for x in LOCATIONS]
    count, why = expected_label_count(prompts, record)
    # 60 rows state 70 of these labels (Actin's text states two)
    assert why is None and count == pytest.approx(70 / 60)
    classifier = ZeroShotClassifier.build(model, processor, LOCATIONS, prompts, record)
    proteins = embed_proteins(model, processor, sequences)
    single, multi = classifier.probabilities(proteins), classifier.probabilities(proteins, multi_label=True)
    assert torch.allclose(single.sum(1), torch.ones(len(sequences), dtype=torch.float64))
    assert torch.allclose(multi, (single * 70 / 60).clamp(max=1))
    assert multi.dtype == torch.float64 and bool((multi <= 1).all())
    # the pipeline: multi_label and top_k keep the order, cut the list, and scores can sum past 1
    classify = ZeroShotProteinClassificationPipeline(model=model, processor=processor, precision="float32")
    full = classify(sequences[0], candidate_labels=LOCATIONS, field="subloc")
    top = classify(sequences[0], candidate_labels=LOCATIONS, field="subloc", multi_label=True, top_k=2)
    assert top["labels"] == full["labels"][:2]
    assert top["scores"] == pytest.approx([min(s * 70 / 60, 1) for s in full["scores"][:2]], abs=1e-9)
    with pytest.raises(ValueError, match="top_k"):
        classify(sequences[0], candidate_labels=LOCATIONS, top_k=0)
    with pytest.raises(ValueError, match="need the labels"):
        classify(sequences[0], multi_label=True)
    with pytest.warns(UserWarning, match="no training text states any label"):
        classify(sequences[0], candidate_labels=["Plastid", "Peroxisome"], multi_label=True)
    # no training record at all: 1 label per protein, and the reason says so
    none, why = expected_label_count(prompts, None)
    assert none == 1.0 and "no training texts" in why


def test_label_probabilities_and_pooling_against_float64(processor):
    """Softmax at a temperature, the multi-label cap, and both poolings, against a float64 computation."""
    torch.manual_seed(0)
    proteins = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    prompts = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    owner = [0, 0, 1, 2, 2]
    scale = 14.3
    logits = class_logits(proteins, prompts, owner, 3, scale, "logsumexp")
    per_prompt = scale * proteins.double() @ prompts.double().t()
    reference = torch.stack([per_prompt[:, [0, 1]].logsumexp(1), per_prompt[:, 2], per_prompt[:, [3, 4]].logsumexp(1)],
                            1)
    assert torch.allclose(logits.double(), reference, atol=1e-4)  # float32 products of unit vectors, x 14.3
    mean = class_logits(proteins, prompts, owner, 3, scale, "mean")
    centre = torch.stack([prompts[[0, 1]].double().sum(0), prompts[2].double(), prompts[[3, 4]].double().sum(0)])
    assert torch.allclose(mean.double(), scale * proteins.double() @ torch.nn.functional.normalize(centre, dim=-1).t(),
                          atol=1e-4)
    probabilities = label_probabilities(logits, temperature=2.0)
    assert torch.allclose(probabilities, torch.softmax(logits.double() / 2.0, -1), atol=1e-6)
    capped = label_probabilities(logits, multi_label_count=2.5)
    assert torch.allclose(capped, (torch.softmax(logits.double(), -1) * 2.5).clamp(max=1), atol=1e-6)


def test_the_cli_classifies_a_four_field_model_by_field(folder, fasta, tmp_path, capsys):
    """What failed for the main job's model: `protst classify --field subcellular_location`."""
    from protst_hf.cli import main as cli

    out = tmp_path / "scores.tsv"
    assert cli(["classify", str(fasta), "--model", str(folder), "--labels", "Nucleus,Cytoplasm",
                "--field", "subcellular_location", "--output", str(out), "--precision", "float32"]) == 0
    err = capsys.readouterr().err
    assert "'SUBCELLULAR LOCATION: Nucleus.'" in err and "log p(class) added" in err
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["id", "label", "score", "Nucleus", "Cytoplasm"] and len(lines) == 24
    assert cli(["classify", str(fasta), "--model", str(folder), "--labels", "ATP binding",
                "--field", "molecular_function", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "subcellular_location" in err and "'MOLECULAR FUNCTION: {}.'" in err
