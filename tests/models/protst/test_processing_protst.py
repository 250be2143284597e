"""ProtSTProcessor: residues, crops and truncation, text layouts, padding, saving."""

import warnings

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from protst_hf import ProtSTProcessor
from protst_hf.models.protst.processing_protst import crop, fit_lengths
from protst_hf.models.protst.texts_protst import TEXT_FIELDS
from utils.builders import make_processor


def test_protein_ids_equal_the_esm_tokenizer(processor, protein_tokenizer, rows):
    proteins = [row["sequence"] for row in rows[:8]] + ["MKTXBZUOA"]
    ours = processor(proteins=proteins, padding=False)["protein_input_ids"]
    theirs = protein_tokenizer(proteins)["input_ids"]
    assert ours == theirs


def test_protein_cleaning(processor):
    batch = processor(proteins=["mkt ay\niak*", "  MKTAYIAK  "], padding=False)
    assert batch["protein_input_ids"][0] == batch["protein_input_ids"][1]
    assert len(batch["protein_input_ids"][0]) == 8 + 2


@pytest.mark.parametrize(
    "bad, char, position",
    [("MKT1AY", "1", 3), ("MKTA#Y", "#", 4), ("MK-TAY", "-", 2), ("MKTA.Y", ".", 4), ("MKTÄY", "Ä", 3),
     ("MK*TA", "*", 2)],
)
def test_invalid_residue_names_index_and_character(processor, bad, char, position):
    with pytest.raises(ValueError) as err:
        processor(proteins=["MKTAYIAK", bad])
    message = str(err.value)
    assert "protein 1" in message and repr(char) in message and f"position {position}" in message


@pytest.mark.parametrize("empty", ["", "   ", "*", "\n*"])
def test_empty_protein_is_rejected(processor, empty):
    with pytest.raises(ValueError, match="protein 2: empty sequence"):
        processor(proteins=["MKT", "AAA", empty])


def test_non_string_protein_is_rejected(processor):
    with pytest.raises(ValueError, match="protein 0 is a int"):
        processor(proteins=[123])


def test_oversized_protein_truncated_with_warning_or_rejected():
    processor = make_processor()  # its own: a processor warns about truncation once
    long = "A" * 1500
    with pytest.warns(UserWarning, match=r"1 protein\(s\) longer than 1022"):
        ids = processor(proteins=["MKT", long], padding=False)["protein_input_ids"]
    assert len(ids[1]) == 1022 + 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once is enough: a model that reads short crops would warn on every batch
        processor(proteins=[long])
    with pytest.raises(ValueError, match="protein 1 has 1500 residues"):
        processor(proteins=["MKT", long], truncation=False)


def test_termini_truncation_keeps_both_ends():
    processor = make_processor(protein_max_length=8, truncation_policy="termini")
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    with pytest.warns(UserWarning, match="termini"):
        ids = processor(proteins=[sequence], padding=False)["protein_input_ids"][0]
    kept = processor.protein_tokenizer.decode(ids[1:-1]).replace(" ", "")
    assert kept == sequence[:6] + sequence[-2:]
    assert crop(sequence, 8, "n_terminal") == sequence[:8]
    with pytest.raises(ValueError, match="truncation_policy"):
        make_processor(truncation_policy="middle")


def test_random_crop_is_a_window_and_reproducible(processor):
    sequence = "".join(np.random.default_rng(1).choice(list("ACDEFGHIKLMNPQRSTVWY"), 800))
    first = processor(proteins=[sequence] * 4, crop_length=450, rng=np.random.default_rng(7), padding=False)
    again = processor(proteins=[sequence] * 4, crop_length=450, rng=np.random.default_rng(7), padding=False)
    assert first["protein_input_ids"] == again["protein_input_ids"]
    vocab = {v: k for k, v in processor.protein_tokenizer.get_vocab().items()}
    windows = ["".join(vocab[i] for i in ids[1:-1]) for ids in first["protein_input_ids"]]
    assert all(len(w) == 450 and w in sequence for w in windows)
    assert len(set(windows)) > 1  # different random starts
    short = processor(proteins=["MKTAY"], crop_length=450, padding=False)["protein_input_ids"][0]
    assert len(short) == 7


def test_string_text_layout_is_cls_plus_tokens_without_sep(processor, text_tokenizer):
    ids = processor(text="SUBCELLULAR LOCATION: Nucleus.", padding=False)["text_input_ids"][0]
    tokens = text_tokenizer("SUBCELLULAR LOCATION: Nucleus.", add_special_tokens=False)["input_ids"]
    assert ids == [text_tokenizer.cls_token_id, *tokens]
    assert text_tokenizer.sep_token_id not in ids


def test_field_text_layout(processor, text_tokenizer, rows):
    row = rows[0]
    fields = {k: row[k] for k in TEXT_FIELDS}
    ids = processor(text=fields, padding=False)["text_input_ids"][0]
    cls_id, sep_id = text_tokenizer.cls_token_id, text_tokenizer.sep_token_id
    expected = [cls_id]
    for i, field in enumerate(TEXT_FIELDS):
        if i:
            expected.append(sep_id)
        expected += text_tokenizer(fields[field], add_special_tokens=False)["input_ids"][:128]
    assert ids == expected
    assert ids.count(sep_id) == 3  # empty subloc keeps its [SEP]s
    assert text_tokenizer.pad_token_id not in ids  # no interior padding


def test_516_token_overflow_of_the_original_cannot_happen(processor, text_tokenizer):
    long_field = " ".join(["protein"] * 300)
    fields = {k: long_field for k in TEXT_FIELDS}
    ids = processor(text=[fields], padding=False)["text_input_ids"][0]
    assert len(ids) == 512  # the original: 1 + 4 * 128 + 3 = 516
    assert ids.count(text_tokenizer.sep_token_id) == 3
    segments = " ".join(map(str, ids[1:])).split(f" {text_tokenizer.sep_token_id} ")
    assert [len(s.split()) for s in segments] == [127, 127, 127, 127]
    small = ProtSTProcessor(processor.protein_tokenizer, text_tokenizer, text_max_length=64)
    assert len(small(text=[fields], padding=False)["text_input_ids"][0]) == 64


def test_fit_lengths():
    assert fit_lengths([10, 20], 100) == [10, 20]
    assert fit_lengths([128, 128, 10, 128], 300) == [97, 97, 10, 96]
    assert fit_lengths([128] * 4, 508) == [127] * 4
    assert sum(fit_lengths([5, 200, 3, 90], 97)) == 97


def test_bad_text_inputs(processor):
    with pytest.raises(ValueError, match="text 1 is empty"):
        processor(text=["nucleus", ""])
    with pytest.raises(ValueError, match="unknown field"):
        processor(text=[{"prot_name": "x", "comment": "y"}])
    with pytest.raises(ValueError, match="every field is empty"):
        processor(text=[{"prot_name": "", "function": None}])
    with pytest.raises(ValueError, match="not a string or a mapping"):
        processor(text=[3.5])


def test_padded_tensors_and_masks(processor):
    batch = processor(proteins=["MKT", "MKTAYIAK"], text=["nucleus", "cell membrane protein"], return_tensors="pt")
    assert batch["protein_input_ids"].shape == (2, 10)
    assert batch["protein_attention_mask"].tolist()[0] == [1] * 5 + [0] * 5
    assert (batch["protein_input_ids"][0, 5:] == processor.protein_tokenizer.pad_token_id).all()
    assert batch["text_attention_mask"].sum(1).tolist() == [
        len(processor(text="nucleus", padding=False)["text_input_ids"][0]),
        len(processor(text="cell membrane protein", padding=False)["text_input_ids"][0]),
    ]
    multiple = processor(proteins=["MKT"], return_tensors="pt", pad_to_multiple_of=8)
    assert multiple["protein_input_ids"].shape == (1, 8)
    assert isinstance(batch["protein_input_ids"], torch.Tensor)


def test_save_and_load(processor, tmp_path):
    custom = ProtSTProcessor(processor.protein_tokenizer, processor.tokenizer, text_field_max_length=64)
    custom.save_pretrained(tmp_path)
    assert (tmp_path / "protein_tokenizer").is_dir()
    for loaded in (ProtSTProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, ProtSTProcessor)
        assert loaded.text_field_max_length == 64
        inputs = dict(proteins=["MKTAYIAKQR", "mvlspadktn"], text=["Nucleus.", {"function": "FUNCTION: binds DNA."}])
        assert loaded(**inputs) == custom(**inputs)


def test_requires_both_tokenizers(processor):
    with pytest.raises(ValueError, match="needs both"):
        ProtSTProcessor(protein_tokenizer=processor.protein_tokenizer)
    with pytest.raises(ValueError, match="not an ESM tokenizer"):
        ProtSTProcessor(protein_tokenizer=processor.tokenizer, tokenizer=processor.tokenizer)
