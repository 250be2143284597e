"""Zero-shot scoring, split by concern (prompts_protst, prior_protst, zero_shot_protst): statements of a text, the
class prior from training texts, class logits with either prompt pooling, the prior that `"auto"` picks, and the
training-text record of a model folder."""

import math

import pytest
import torch
import torch.nn.functional as F

from protst_hf.models.protst.prior_protst import class_log_prior, resolve_prior, text_log_prior
from protst_hf.models.protst.prompts_protst import (
    field_template,
    read_training_texts,
    statement_counts,
    write_training_texts,
)
from protst_hf.models.protst.texts_protst import text_parts
from protst_hf.models.protst.zero_shot_protst import class_logits, resolve_pooling

CYTOPLASM, NUCLEUS = "SUBCELLULAR LOCATION: Cytoplasm.", "SUBCELLULAR LOCATION: Nucleus."
RECORD = {"format": 1, "objective": "in_batch", "rows": 15,
          "texts": {CYTOPLASM: 6, "SUBCELLULAR LOCATION: Cytoplasm. Nucleus.": 2, NUCLEUS: 2,
                    "FUNCTION: Binds DNA.": 5}}


def test_text_parts_split_statements_under_their_heading():
    assert text_parts("SUBCELLULAR LOCATION: Cytoplasm. Nucleus.") == [CYTOPLASM, NUCLEUS]
    assert text_parts(CYTOPLASM) == [CYTOPLASM]
    assert text_parts("Binds DNA. Repairs it.") == ["Binds DNA. Repairs it."]  # no heading: one text
    assert text_parts("SUBCELLULAR LOCATION: Cell membrane.  Golgi apparatus membrane") == [
        "SUBCELLULAR LOCATION: Cell membrane.", "SUBCELLULAR LOCATION: Golgi apparatus membrane."]
    # several topics in one text (the GO layout): each statement under its own heading
    go = "MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL PROCESS: DNA repair. CELLULAR COMPONENT: nucleus."
    assert text_parts(go) == ["MOLECULAR FUNCTION: ATP binding.", "MOLECULAR FUNCTION: DNA binding.",
                              "BIOLOGICAL PROCESS: DNA repair.", "CELLULAR COMPONENT: nucleus."]
    assert text_parts("FUNCTION: Cleaves ATP:ADP bonds. Note=X: y.") == ["FUNCTION: Cleaves ATP:ADP bonds.",
                                                                        "FUNCTION: Note=X: y."]


def test_class_prior_counts_every_statement_of_a_training_text():
    counts = statement_counts(RECORD)
    assert counts["subcellular location: cytoplasm"] == 8 and counts["subcellular location: nucleus"] == 4
    log_prior, why = class_log_prior([[CYTOPLASM], [NUCLEUS, "SUBCELLULAR LOCATION: Nucleus matrix."]], RECORD)
    assert torch.allclose(log_prior.exp(), torch.tensor([8 / 12, 4 / 12]))
    assert "15 training texts" in why
    # a class no training text names: no prior for anyone (it would favour the named classes for that alone)
    none, why = class_log_prior([[CYTOPLASM], ["SUBCELLULAR LOCATION: Plastid."]], RECORD, names=["C", "Plastid"])
    assert none is None and "Plastid" in why
    given, _ = class_log_prior([[CYTOPLASM], [NUCLEUS]], frequencies={"a": 1, "b": 3}, names=["a", "b"])
    assert torch.allclose(given.exp(), torch.tensor([0.25, 0.75]))
    with pytest.raises(ValueError, match="no frequency"):
        class_log_prior([[CYTOPLASM], [NUCLEUS]], frequencies={"a": 1}, names=["a", "b"])
    with pytest.raises(ValueError, match="positive"):
        class_log_prior([[CYTOPLASM], [NUCLEUS]], frequencies=[1, 0])


def test_class_logits_mean_and_logsumexp_pooling_with_a_prior():
    torch.manual_seed(0)
    proteins = F.normalize(torch.randn(3, 8), dim=-1)
    prompts = F.normalize(torch.randn(4, 8), dim=-1)
    owner = [0, 0, 1, 2]
    mean = class_logits(proteins, prompts, owner, 3, scale=10.0)
    centroid = F.normalize(torch.stack([prompts[:2].mean(0), prompts[2], prompts[3]]), dim=-1)
    assert torch.allclose(mean, 10.0 * proteins @ centroid.t(), atol=1e-5)
    lse = class_logits(proteins, prompts, owner, 3, scale=10.0, pooling="logsumexp")
    per_prompt = 10.0 * proteins @ prompts.t()
    assert torch.allclose(lse[:, 0], per_prompt[:, :2].logsumexp(-1), atol=1e-5)
    assert torch.allclose(lse[:, 1:], per_prompt[:, 2:], atol=1e-5)
    prior = torch.tensor([0.5, 0.3, 0.2]).log()
    assert torch.allclose(class_logits(proteins, prompts, owner, 3, 10.0, log_prior=prior), mean + prior)
    with pytest.raises(ValueError, match="every class"):
        class_logits(proteins, prompts, [0, 0, 1, 1], 3, 10.0)
    with pytest.raises(ValueError, match="pooling"):
        class_logits(proteins, prompts, owner, 3, 10.0, pooling="max")


def test_auto_prior_follows_what_the_scores_estimate():
    assert resolve_prior("auto", RECORD) == "training"  # density ratios: put the prior back
    assert resolve_prior("auto", {**RECORD, "objective": "text_bank"}) == "uniform"  # already posteriors
    assert resolve_prior("auto", None) == "uniform"
    assert resolve_prior({"a": 1.0}, None) == {"a": 1.0}
    with pytest.raises(ValueError, match="training_texts.json"):
        resolve_prior("training", None)
    with pytest.raises(ValueError, match="prior must be one of"):
        resolve_prior("frequent", RECORD)


def test_auto_pooling_sums_the_texts_of_a_text_bank_model():
    assert resolve_pooling("auto", {**RECORD, "objective": "text_bank"}) == "logsumexp"
    assert resolve_pooling("auto", RECORD) == "mean" and resolve_pooling("auto", None) == "mean"
    assert resolve_pooling("logsumexp", None) == "logsumexp"
    with pytest.raises(ValueError, match="prompt_pooling"):
        resolve_pooling("max", None)


def test_text_log_prior_smooths_unseen_texts():
    log_prior = text_log_prior([CYTOPLASM, "SUBCELLULAR LOCATION: Plastid."], RECORD)
    total = 15 + 0.5 * (4 + 2)
    assert log_prior[0].item() == pytest.approx(math.log(6.5 / total), rel=1e-6)
    assert log_prior[1].item() == pytest.approx(math.log(0.5 / total), rel=1e-6)


def test_training_texts_round_trip_and_a_damaged_file(tmp_path):
    from collections import Counter

    path = write_training_texts(tmp_path, Counter({CYTOPLASM: 3, NUCLEUS: 1}), "text_bank")
    record = read_training_texts(path)
    assert record["rows"] == 4 and record["distinct_texts"] == 2 and record["objective"] == "text_bank"
    assert record["texts"] == {CYTOPLASM: 3, NUCLEUS: 1} and record["omitted_rows"] == 0
    assert record["templates"] == {"subcellular_location": "SUBCELLULAR LOCATION: {}."}
    assert field_template(record, "subcellular_location") == "SUBCELLULAR LOCATION: {}."
    with pytest.raises(ValueError, match="no text field 'molecular_function'.*subcellular_location"):
        field_template(record, "molecular_function")
    # statement-level training records each statement with the rows that state it (a term's frequency)
    go = "MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL PROCESS: DNA repair."
    counts = Counter({go: 2, "MOLECULAR FUNCTION: ATP binding.": 3})
    record = read_training_texts(write_training_texts(tmp_path, counts, "in_batch", text_unit="statement"))
    assert record["rows"] == 5 and record["text_unit"] == "statement"
    assert record["texts"] == {"MOLECULAR FUNCTION: ATP binding.": 5, "MOLECULAR FUNCTION: DNA binding.": 2,
                               "BIOLOGICAL PROCESS: DNA repair.": 2}
    assert record["templates"] == {"biological_process": "BIOLOGICAL PROCESS: {}.",
                                   "molecular_function": "MOLECULAR FUNCTION: {}."}
    path.write_text('{"texts": ')
    with pytest.raises(ValueError, match="cannot be read"):
        read_training_texts(path)
