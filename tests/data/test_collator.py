"""The pretraining collator: the original's masking, crops, reproducibility."""

import math

import numpy as np
import pytest
import torch

from protst_hf import ProtSTDataCollatorForPretraining
from protst_hf.data.collator import mask_protein_tokens, mask_text_tokens
from protst_hf.models.protst.texts_protst import TEXT_FIELDS


def test_batch_keys_shapes_and_label_alignment(processor, rows):
    collator = ProtSTDataCollatorForPretraining(processor, seed=3)
    batch = collator(rows[:6])
    assert set(batch) == {"protein_input_ids", "protein_attention_mask", "protein_labels", "text_input_ids",
                          "text_attention_mask", "text_labels"}
    assert batch["protein_labels"].shape == batch["protein_input_ids"].shape
    assert batch["text_labels"].shape == batch["text_input_ids"].shape
    mask_id = processor.protein_tokenizer.mask_token_id
    masked = batch["protein_labels"] != -100
    assert (batch["protein_input_ids"][masked] == mask_id).all()
    assert (batch["protein_labels"][masked] > 3).all()  # residues only, never BOS/EOS/padding
    text_masked = batch["text_labels"] != -100
    assert (batch["text_input_ids"][text_masked] == processor.tokenizer.mask_token_id).all()
    specials = [processor.tokenizer.cls_token_id, processor.tokenizer.sep_token_id, processor.tokenizer.pad_token_id]
    assert not torch.isin(batch["text_labels"][text_masked], torch.tensor(specials)).any()
    # unmasked positions keep their tokens: the original sequence comes back by undoing the masks
    restored = torch.where(masked, batch["protein_labels"], batch["protein_input_ids"])
    rng = np.random.default_rng([3, 0])  # the collator's stream for batch 0 of seed 3
    rng.integers(0, 2**62)  # its first draw seeds the masking generator
    expected = processor(proteins=[r["sequence"] for r in rows[:6]], crop_length=450, rng=rng, return_tensors="pt")
    assert torch.equal(restored, expected["protein_input_ids"])


def test_every_protein_gets_at_least_one_mask_and_the_count_rule(processor):
    ids = processor(proteins=["MKT", "A" * 20, "C" * 100], return_tensors="pt")
    residues = ids["protein_attention_mask"].bool() & (ids["protein_input_ids"] > 3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        masked, labels = mask_protein_tokens(ids["protein_input_ids"], residues, 32, 0.15, generator)
        counts = (labels != -100).sum(1).tolist()
        assert counts[0] == 1  # max(1, floor(0.45)) = 1
        assert 1 <= counts[1] <= 3  # 3 draws with replacement
        assert 1 <= counts[2] <= 15


def test_protein_masking_rate_over_many_draws(processor):
    length, rate, draws = 100, 0.15, 4000
    ids = processor(proteins=["ACDEFGHIKLMNPQRSTVWY" * 5], return_tensors="pt")
    residues = ids["protein_attention_mask"].bool() & (ids["protein_input_ids"] > 3)
    batch = ids["protein_input_ids"].repeat(draws, 1)
    _, labels = mask_protein_tokens(batch, residues.repeat(draws, 1), 32, rate, torch.Generator().manual_seed(1))
    distinct = (labels != -100).sum(1).double()
    # 15 draws with replacement over 100 residues: E[distinct] = 100 * (1 - 0.99 ** 15) = 13.99
    expected = length * (1 - (1 - 1 / length) ** math.floor(rate * length))
    assert distinct.mean().item() == pytest.approx(expected, abs=0.05)
    assert distinct.max() <= 15
    # uniform over positions: every residue position is picked about equally often
    per_position = (labels != -100).double().mean(0)[1:-1]
    assert per_position.min() > 0.11 and per_position.max() < 0.17


def test_text_masking_rate_over_many_draws(processor, rows):
    texts = [{k: r[k] for k in TEXT_FIELDS} for r in rows]
    batch = processor(text=texts, return_tensors="pt")
    ids = batch["text_input_ids"].repeat(40, 1)
    attention = batch["text_attention_mask"].repeat(40, 1)
    specials = [processor.tokenizer.cls_token_id, processor.tokenizer.sep_token_id, processor.tokenizer.pad_token_id]
    masked, labels = mask_text_tokens(ids, specials, processor.tokenizer.mask_token_id, 0.15, attention,
                                      torch.Generator().manual_seed(2))
    candidates = attention.bool() & ~torch.isin(ids, torch.tensor(specials))
    rate = (labels != -100).sum().item() / candidates.sum().item()
    assert candidates.sum() > 50_000
    assert rate == pytest.approx(0.15, abs=0.005)
    assert ((labels != -100) & ~candidates).sum() == 0  # [CLS], [SEP], padding never masked
    assert torch.equal(torch.where(labels != -100, labels, masked), ids)


def test_reproducible_and_resumable(processor, rows):
    first = ProtSTDataCollatorForPretraining(processor, seed=11)
    batches = [first(rows[i : i + 4]) for i in range(0, 12, 4)]
    again = ProtSTDataCollatorForPretraining(processor, seed=11)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(batches, [again(rows[i : i + 4]) for i in range(0, 12, 4)])
               for k in a)
    resumed = ProtSTDataCollatorForPretraining(processor, seed=0)
    resumed.load_state_dict({"seed": 11, "batches_collated": 2})
    third = resumed(rows[8:12])
    assert all(torch.equal(third[k], batches[2][k]) for k in third)
    other = ProtSTDataCollatorForPretraining(processor, seed=12)(rows[0:4])
    assert not torch.equal(other["protein_labels"], batches[0]["protein_labels"])


def test_crop_applies_to_long_proteins(processor):
    collator = ProtSTDataCollatorForPretraining(processor, crop_length=50, seed=0)
    batch = collator([{"sequence": "ACDEFGHIKL" * 30, "text": "a long protein"}, {"sequence": "MKT", "text": "short"}])
    assert batch["protein_input_ids"].shape[1] == 52
    assert batch["protein_attention_mask"].sum(1).tolist() == [52, 5]


def test_rows_without_sequence_fail_clearly(processor):
    with pytest.raises(ValueError, match="row 1 has no `sequence`"):
        ProtSTDataCollatorForPretraining(processor)([{"sequence": "MKT", "text": "x"}, {"text": "y"}])


def test_crop_policies_keep_the_promised_residues(processor):
    sequence = "M" + "ACDEFGHIKLMNPQRSTVWY" * 20 + "SKL"  # 404 residues, a PTS1 signal at the C-terminus
    for policy, expected in (("n_terminal", sequence[:40]), ("termini", sequence[:30] + sequence[-10:])):
        collator = ProtSTDataCollatorForPretraining(processor, crop_length=40, crop_policy=policy, mask_protein=False)
        batch = collator([{"sequence": sequence, "text": "SUBCELLULAR LOCATION: Peroxisome."}])
        ids = batch["protein_input_ids"][0, 1:-1]
        assert processor.protein_tokenizer.decode(ids).replace(" ", "") == expected, policy
    with pytest.raises(ValueError, match="unknown crop policy"):
        ProtSTDataCollatorForPretraining(processor, crop_policy="middle")


def test_from_config_masks_only_what_an_objective_predicts(processor, rows, make_config):
    rows = [{"sequence": r["sequence"], "text": {"function": r["function"]}} for r in rows[:4]]
    full = ProtSTDataCollatorForPretraining.from_config(processor, make_config(), crop_length=64)(rows, (0, 0))
    assert (full["protein_labels"] != -100).any() and (full["text_labels"] != -100).any()
    contrastive = make_config(mlm_weight=0, mmp_protein_weight=0, mmp_text_weight=0)
    plain = ProtSTDataCollatorForPretraining.from_config(processor, contrastive, crop_length=64)(rows, (0, 0))
    assert (plain["protein_labels"] == -100).all() and (plain["text_labels"] == -100).all()
    mask_id = processor.protein_tokenizer.mask_token_id
    assert not (plain["protein_input_ids"] == mask_id).any()
    # the unmasked inputs are the masked batch's originals, with the same crops
    restored = torch.where(full["protein_labels"] != -100, full["protein_labels"], full["protein_input_ids"])
    assert torch.equal(restored, plain["protein_input_ids"])


def test_the_text_of_a_row_is_one_definition(processor):
    """An empty `text` counts as absent everywhere (the collator used to keep "" and fail on it, while the batches,
    validation and the frequency counts fell back to the fields)."""
    from protst_hf.data.texts import row_text
    from protst_hf.models.protst.texts_protst import key_text, text_key

    row = {"sequence": "MKTAYIAKQR", "text": "", "subloc": "SUBCELLULAR LOCATION: Nucleus."}
    assert row_text(row) == {"prot_name": "", "function": "", "subloc": "SUBCELLULAR LOCATION: Nucleus.",
                             "similarity": ""}
    batch = ProtSTDataCollatorForPretraining(processor, seed=0, mask_text=False)([row])
    expected = processor(text=[row_text(row)], return_tensors="pt")["text_input_ids"]
    assert torch.equal(batch["text_input_ids"], expected)
    assert key_text(text_key(row_text(row))) == row_text(row)
    assert key_text(text_key("SUBCELLULAR LOCATION: Nucleus.")) == "SUBCELLULAR LOCATION: Nucleus."


def test_a_go_row_reads_as_its_go_layout_and_statement_units_draw_one_term(processor):
    """A GO build's row (no UniProt texts) reads as "MOLECULAR FUNCTION: a. b. BIOLOGICAL PROCESS: c."; with
    text_unit="statement" each protein gets one of those statements, drawn by the batch key, with the crops of
    text_unit="text"."""
    from protst_hf.data.texts import row_text
    from protst_hf.models.protst.texts_protst import text_parts

    row = {"sequence": "MKTAYIAKQR" * 30, "prot_name": "", "go_function": "ATP binding; DNA binding",
           "go_process": "DNA repair", "go_component": ""}
    text = "MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL PROCESS: DNA repair."
    assert row_text(row) == text
    assert row_text({**row, "subloc": "SUBCELLULAR LOCATION: Nucleus."})["subloc"]  # UniProt texts come first
    rows = [row] * 8
    whole = ProtSTDataCollatorForPretraining(processor, seed=3, mask_text=False, crop_length=50)
    unit = ProtSTDataCollatorForPretraining(processor, seed=3, mask_text=False, crop_length=50,
                                            text_unit="statement")
    seen = set()
    for key in range(6):
        a, b = whole(rows, batch_key=(0, key)), unit(rows, batch_key=(0, key))
        assert torch.equal(a["protein_input_ids"], b["protein_input_ids"])  # same crops
        assert torch.equal(b["text_input_ids"], unit(rows, batch_key=(0, key))["text_input_ids"])  # reproducible
        decoded = processor.tokenizer.batch_decode(b["text_input_ids"], skip_special_tokens=True)
        seen.update(decoded)
    options = {processor.tokenizer.decode(processor.tokenizer(p)["input_ids"], skip_special_tokens=True)
               for p in text_parts(text)}
    assert seen == options  # every statement drawn, nothing else
    with pytest.raises(ValueError, match="text_unit"):
        ProtSTDataCollatorForPretraining(processor, text_unit="sentence")
