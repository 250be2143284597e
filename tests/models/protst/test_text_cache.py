"""The on-disk cache of label-text embeddings: the same vectors as embedding the texts, read back instead of
recomputed, keyed by everything that decides them."""

import copy
import warnings

import pytest
import torch

from protst_hf.models.protst import inference_protst
from protst_hf.models.protst.inference_protst import (
    TEXT_CACHE_MIN_TEXTS,
    embed_texts,
    embed_texts_cached,
    text_cache_directory,
    text_tower_digest,
)
from protst_hf.models.protst.zero_shot_protst import ZeroShotClassifier

LABELS = [f"MOLECULAR FUNCTION: activity number {i}." for i in range(TEXT_CACHE_MIN_TEXTS)]


def test_a_second_call_reads_the_cache_and_gives_the_same_vectors(model, processor, tmp_path, monkeypatch):
    first = embed_texts_cached(model, processor, LABELS, cache=tmp_path)
    assert torch.equal(first, embed_texts(model, processor, LABELS))
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the text tower ran although the embeddings are cached")

    monkeypatch.setattr(inference_protst, "embed_texts", refuse)
    assert torch.equal(embed_texts_cached(model, processor, LABELS, cache=tmp_path), first)
    # the zero-shot classifier of a large label set takes them from the cache (PROTST_TEXT_CACHE)
    monkeypatch.setenv("PROTST_TEXT_CACHE", str(tmp_path))
    classifier = ZeroShotClassifier.build(model, processor, LABELS, [[t] for t in LABELS])
    assert torch.equal(classifier.prompt_embeds, first)


def test_the_key_follows_the_weights_the_dtype_and_the_texts(model, processor, tmp_path):
    embed_texts_cached(model, processor, LABELS, cache=tmp_path)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.text_projection.dense.weight.add_(0.01)  # another model: other vectors, another file
    assert text_tower_digest(other) != text_tower_digest(model)
    assert torch.equal(embed_texts_cached(other, processor, LABELS, cache=tmp_path), embed_texts(other, processor,
                                                                                                  LABELS))
    embed_texts_cached(model, processor, LABELS[::-1], cache=tmp_path)
    embed_texts_cached(model, processor, LABELS, dtype="bfloat16", cache=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_small_sets_a_corrupt_file_and_a_read_only_folder(model, processor, tmp_path, monkeypatch):
    monkeypatch.setenv("PROTST_TEXT_CACHE", str(tmp_path / "cache"))
    assert text_cache_directory() == tmp_path / "cache"
    embed_texts_cached(model, processor, LABELS[:10])  # below the threshold: not cached
    assert not (tmp_path / "cache").exists()
    expected = embed_texts_cached(model, processor, LABELS)
    (file,) = (tmp_path / "cache").glob("*.pt")
    file.write_bytes(b"not a tensor")
    assert torch.equal(embed_texts_cached(model, processor, LABELS), expected)  # recomputed and rewritten
    assert torch.equal(torch.load(file, weights_only=True), expected)
    monkeypatch.setenv("PROTST_TEXT_CACHE", "off")
    assert text_cache_directory() is None
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    with pytest.warns(UserWarning, match="not cached"):
        again = embed_texts_cached(model, processor, LABELS, cache=blocked / "sub")
    assert torch.equal(again, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embed_texts_cached(model, processor, LABELS, cache=False)
