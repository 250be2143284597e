"""Converters for the released ProtST weights: equivalence with the reference implementations, not key coverage.

A randomly initialised fair-esm model (ESM-2 and ESM-1b layouts, built from arguments: no download) and a random
BERT are saved in the original TorchDrug key layout with random heads and fusion weights; the converted model must
give the same residue representations as fair-esm, the same token states as the BERT, and the same head and fusion
outputs as a reimplementation of the spec's math on the original tensors."""

import argparse
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoProcessor, BertConfig, BertForMaskedLM

import protst_hf  # noqa: F401  (registers the Auto classes)
from protst_hf.hub.convert import UntrustedPickleError, convert_original, load_checkpoint
from utils.builders import FIXTURES

esm = pytest.importorskip("esm")

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQ", "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF", "GSHMAC"]

PROJECTION = 64  # fusion hidden = projection, 8 heads of 8



def _perturb(module: torch.nn.Module, generator: torch.Generator) -> None:
    # fair-esm and BERT initialise LayerNorms to 1/0 and biases to 0: randomise everything so a wrongly mapped
    # norm or bias cannot hide
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


def _mlp(prefix: str, sizes: tuple[int, int, int], generator: torch.Generator) -> dict:
    fan_in, hidden, out = sizes
    return {
        f"{prefix}.layers.0.weight": torch.randn(hidden, fan_in, generator=generator) / fan_in**0.5,
        f"{prefix}.layers.0.bias": 0.1 * torch.randn(hidden, generator=generator),
        f"{prefix}.layers.1.weight": torch.randn(out, hidden, generator=generator) / hidden**0.5,
        f"{prefix}.layers.1.bias": 0.1 * torch.randn(out, generator=generator),
    }


def _original_checkpoint(kind: str):
    """(state dict in the original layout, the fair-esm model, the BERT model)."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    alphabet = esm.Alphabet.from_architecture("ESM-1b")
    if kind == "esm2":
        # the real ESM-2 8M architecture: attention heads come from the released-sizes table
        protein = esm.model.esm2.ESM2(num_layers=6, embed_dim=320, attention_heads=20, alphabet=alphabet,
                                      token_dropout=True)
    else:
        args = argparse.Namespace(arch="roberta_large", layers=2, embed_dim=64, ffn_embed_dim=128,
                                  attention_heads=4, max_positions=1024, emb_layer_norm_before=True,
                                  token_dropout=True, final_bias=True)
        protein = esm.model.esm1.ProteinBertModel(args, alphabet)
    _perturb(protein, generator)
    vocab_size = sum(1 for _ in open(FIXTURES / "text_tokenizer" / "vocab.txt"))
    text = BertForMaskedLM(BertConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=256, max_position_embeddings=512,
                                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    _perturb(text, generator)
    hidden = protein.embed_tokens.weight.shape[1]
    state = {f"protein_model.model.{k}": v for k, v in protein.state_dict().items()}
    state["protein_model.mapping"] = torch.arange(33)
    state.update({f"text_model.model.{k}": v for k, v in text.state_dict().items()})
    state.update(_mlp("protein_model.graph_mlp", (hidden, hidden, PROJECTION), generator))
    state.update(_mlp("protein_model.residue_mlp", (hidden, hidden, PROJECTION), generator))
    state.update(_mlp("text_model.text_mlp", (128, 128, PROJECTION), generator))
    state.update(_mlp("text_model.word_mlp", (128, 128, PROJECTION), generator))
    state.update(_mlp("mlm_head", (PROJECTION, PROJECTION, 20), generator))
    state.update(_mlp("mmp_protein_head", (PROJECTION, PROJECTION, 20), generator))
    state.update(_mlp("mmp_text_head", (PROJECTION, PROJECTION, vocab_size), generator))
    for name in ("query1", "key1", "value1", "query2", "key2", "value2"):
        state[f"fusion_model.layers.0.{name}.weight"] = torch.randn(PROJECTION, PROJECTION, generator=generator) / 8
    for modality in ("protein", "text"):
        prefix = f"fusion_model.{modality}_batch_norm_layers.0"
        state[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(PROJECTION, generator=generator)
        state[f"{prefix}.bias"] = 0.1 * torch.randn(PROJECTION, generator=generator)
        state[f"{prefix}.running_mean"] = 0.1 * torch.randn(PROJECTION, generator=generator)
        state[f"{prefix}.running_var"] = 1 + 0.1 * torch.rand(PROJECTION, generator=generator)
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(100)
    state["logit_scale"] = torch.tensor(3.1)
    return state, protein.eval(), text.bert.eval(), alphabet


def _tokens(alphabet) -> torch.Tensor:
    _, _, tokens = alphabet.get_batch_converter()([(str(i), p) for i, p in enumerate(PROTEINS)])
    return tokens


def _mlp_apply(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    x = F.relu(F.linear(x, state[f"{prefix}.layers.0.weight"], state[f"{prefix}.layers.0.bias"]))
    return F.linear(x, state[f"{prefix}.layers.1.weight"], state[f"{prefix}.layers.1.bias"])


def _reference_fusion(state, protein, protein_mask, text, text_mask, training: bool):
    """The spec's fusion on the original tensors: raw dot products, 8 heads, masked softmax per map, mean of self
    and cross attention, padded query rows zeroed, BatchNorm1d over every (padded) position, ReLU."""
    heads = 8

    def split(x):
        return x.view(*x.shape[:2], heads, -1).transpose(1, 2)

    def project(x, name):
        return split(F.linear(x, state[f"fusion_model.layers.0.{name}.weight"]))

    def attend(q, k, v, key_mask):
        logits = q @ k.transpose(-1, -2)  # no 1/sqrt(d)
        logits = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        return (logits.softmax(-1) @ v).transpose(1, 2).flatten(2)

    qp, kp, vp = (project(protein, n) for n in ("query1", "key1", "value1"))
    qt, kt, vt = (project(text, n) for n in ("query2", "key2", "value2"))
    outputs = []
    for query, mask, modality in ((qp, protein_mask, "protein"), (qt, text_mask, "text")):
        out = (attend(query, kp, vp, protein_mask) + attend(query, kt, vt, text_mask)) / 2
        out = out * mask[..., None]
        prefix = f"fusion_model.{modality}_batch_norm_layers.0"
        flat = F.batch_norm(out.reshape(-1, out.shape[-1]), state[f"{prefix}.running_mean"].clone(),
                            state[f"{prefix}.running_var"].clone(), state[f"{prefix}.weight"],
                            state[f"{prefix}.bias"], training=training, eps=1e-5)
        outputs.append(F.relu(flat.view_as(out)))
    return outputs


@pytest.mark.parametrize("kind", ["esm2", "esm1b"])
def test_converted_original_matches_fair_esm_bert_heads_and_fusion(tmp_path, kind):
    state, fair_esm, bert, alphabet = _original_checkpoint(kind)
    path = tmp_path / "protst.pth"
    torch.save({"model": state, "epoch": 3}, path)  # an engine-style dict of plain values loads weights_only
    heads = None if kind == "esm2" else 4
    model, report = convert_original(path, tmp_path / "out", protein_attention_heads=heads)

    # every key accounted for: the fair-esm LM and contact heads, rotary buffers, BERT's MLM head and the residue
    # mapping are dropped on purpose; nothing unmapped, nothing missing
    assert report.unmapped == [] and report.missing == []
    assert "protein_model.mapping" in report.dropped
    assert any(k.startswith("protein_model.model.lm_head.") for k in report.dropped)
    saved = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert saved["mapped"] == report.mapped and saved["unmapped"] == []
    config = model.config.protein_config
    assert config.position_embedding_type == ("rotary" if kind == "esm2" else "absolute")
    assert config.emb_layer_norm_before == (kind == "esm1b")

    tokens = _tokens(alphabet)
    attention_mask = (tokens != alphabet.padding_idx).long()
    valid = attention_mask.bool()
    with torch.no_grad():
        # 1. residue representations of the protein tower (last layer, after the final LayerNorm)
        layers = len(fair_esm.layers)
        reference = fair_esm(tokens, repr_layers=[layers])["representations"][layers]
        ours = model.protst.protein_model(input_ids=tokens, attention_mask=attention_mask).last_hidden_state
        diff = (reference - ours)[valid].abs().max().item()
        assert diff < 1e-4, f"residue representations differ by {diff}"

        # 2. the text tower
        text_ids = torch.tensor([[2, 50, 51, 52, 3, 60, 3], [2, 70, 71, 3, 0, 0, 0], [2, 80, 3, 81, 82, 3, 0]])
        text_mask = (text_ids != 0).long()
        bert_out = bert(input_ids=text_ids, attention_mask=text_mask).last_hidden_state
        our_text = model.protst.text_model(input_ids=text_ids, attention_mask=text_mask).last_hidden_state
        assert (bert_out - our_text)[text_mask.bool()].abs().max().item() < 1e-5

        # 3. global embeddings through graph_mlp / text_mlp: the spec's readouts (residues; no CLS/SEP/PAD)
        residues = valid & (tokens != alphabet.cls_idx) & (tokens != alphabet.eos_idx)
        pooled = (reference * residues[..., None]).sum(1) / residues.sum(1, keepdim=True)
        expected = F.normalize(_mlp_apply(state, "protein_model.graph_mlp", pooled), dim=-1)
        features = model.protst.get_protein_features(tokens, attention_mask)
        assert torch.allclose(features, expected, atol=1e-5)
        content = text_mask.bool() & (text_ids != 2) & (text_ids != 3)
        pooled_text = (bert_out * content[..., None]).sum(1) / content.sum(1, keepdim=True)
        expected_text = F.normalize(_mlp_apply(state, "text_model.text_mlp", pooled_text), dim=-1)
        assert torch.allclose(model.protst.get_text_features(text_ids, text_mask), expected_text, atol=1e-5)
        assert model.protst.logit_scale.item() == pytest.approx(3.1)

        # 4. per-residue heads: mlm_head(residue_mlp(h)), and the MMP heads
        residue_features = _mlp_apply(state, "protein_model.residue_mlp", reference)
        ours_residue = model.protst.residue_projection(ours)
        assert (residue_features - ours_residue)[valid].abs().max().item() < 1e-4
        for head in ("mlm_head", "mmp_protein_head", "mmp_text_head"):
            assert torch.allclose(getattr(model, head)(residue_features), _mlp_apply(state, head, residue_features),
                                  atol=1e-5)

        # 5. fusion, in training mode (batch statistics over padded positions) and in eval mode (running stats)
        word_features = _mlp_apply(state, "text_model.word_mlp", bert_out)
        for training in (False, True):  # eval first: a training pass updates the running statistics
            model.train(training)
            fused = model.fusion(residue_features, residues, word_features, content)
            expected_fused = _reference_fusion(state, residue_features, residues, word_features, content, training)
            for got, want in zip(fused, expected_fused):
                assert torch.allclose(got, want, atol=1e-4), (training, (got - want).abs().max())
    model.eval()

    # 6. the saved folder loads with the Auto classes and gives the same embeddings
    reloaded = AutoModel.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        assert torch.allclose(reloaded.get_protein_features(tokens, attention_mask), features, atol=1e-6)


def test_pickle_refused_unless_trusted_and_shape_mismatch_fails(tmp_path):
    state, *_ = _original_checkpoint("esm2")
    path = tmp_path / "engine.pth"
    # an engine pickle with an object (not a tensor): weights_only refuses it
    torch.save({"model": state, "config": argparse.Namespace(lr=1e-5)}, path)
    with pytest.raises(UntrustedPickleError, match="--trust-pickle"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="weights_only=False"):
        assert len(load_checkpoint(path, trust_pickle=True)) == len(state)

    # an unknown key is reported, not dropped silently; a tensor of the wrong shape stops the conversion
    odd = dict(state, **{"protein_model.extra_head.weight": torch.zeros(3)})
    torch.save(odd, tmp_path / "odd.pth")
    _, report = convert_original(tmp_path / "odd.pth")
    assert report.unmapped == ["protein_model.extra_head.weight"]
    bad = dict(state)
    bad["text_model.word_mlp.layers.0.weight"] = torch.zeros(128, 64)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="shape mismatch for protst.word_projection.dense.weight"):
        convert_original(tmp_path / "bad.pth")


@pytest.mark.slow
def test_convert_original_cli_saves_a_pipeline_ready_folder(tmp_path):
    state, *_ = _original_checkpoint("esm2")
    torch.save({"model": state, "config": argparse.Namespace(lr=1e-5)}, tmp_path / "protst_esm2.pth")
    command = [sys.executable, "-m", "protst_hf.cli", "convert-original", str(tmp_path / "protst_esm2.pth"),
               str(tmp_path / "out"), "--text-tokenizer", str(tmp_path / "tok")]
    from transformers import BertTokenizer

    BertTokenizer(vocab=str(FIXTURES / "text_tokenizer" / "vocab.txt")).save_pretrained(tmp_path / "tok")
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr
    done = subprocess.run(command + ["--trust-pickle"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 unmapped, 0 missing" in done.stdout and "processor saved" in done.stdout
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    model = AutoModel.from_pretrained(tmp_path / "out").eval()
    batch = processor(proteins=PROTEINS[:2], text=["SUBCELLULAR LOCATION: Nucleus.", "Cytoplasm."],
                      return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**batch)
    assert out.logits_per_protein.shape == (2, 2)
    assert processor.protein_max_length == 1022


def test_hub_port_layout_converts_to_the_same_embeddings(tmp_path):
    """A folder in the `mila-intel/ProtST-esm1b` layout (EsmModel under `protein_model.esm`, BERT under
    `text_model.bert`, heads `protein_mlp` / `text_mlp` / `word_mlp` with `dense` + `out_proj`, bf16
    `pytorch_model.bin`) converts to a model with the same embeddings as the bf16-rounded source."""
    from protst_hf.hub.convert import convert_hub_port
    from protst_hf.models.protst import ProtSTModel
    from protst_hf.resources import demo_config, demo_processor

    torch.manual_seed(0)
    source = ProtSTModel(demo_config()).eval()
    rename = {"protst.": "", "protein_model.": "protein_model.esm.", "text_model.": "text_model.bert.",
              "protein_projection.": "protein_model.protein_mlp.", "text_projection.": "text_model.text_mlp.",
              "word_projection.": "text_model.word_mlp."}
    state = {}
    for key, tensor in source.state_dict().items():
        if key.startswith("residue_projection."):
            continue  # the port has no residue head
        new = key
        for old, replacement in rename.items():
            if new.startswith(old):
                new = replacement + new[len(old):]
        state[new] = tensor.to(torch.bfloat16)
    folder = tmp_path / "port"
    folder.mkdir()
    torch.save(state, folder / "pytorch_model.bin")
    config = source.config.to_dict()
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "protst",
                                                    "architectures": ["ProtSTModel"]}))
    model, report = convert_hub_port(folder, tmp_path / "out")
    assert report.unmapped == []
    assert all(k.startswith(("protst.residue_projection.", "fusion.", "mlm_head.", "mmp_")) for k in report.missing)
    rounded = ProtSTModel(demo_config()).eval()
    rounded.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in source.state_dict().items()})
    batch = demo_processor()(proteins=PROTEINS, text=["Nucleus.", "Cytoplasm.", "Membrane."], return_tensors="pt",
                             padding=True)
    with torch.no_grad():
        want = rounded.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])
        got = model.protst.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])
        assert torch.allclose(got, want, atol=1e-6)
        want = rounded.get_text_features(batch["text_input_ids"], batch["text_attention_mask"])
        assert torch.allclose(model.protst.get_text_features(batch["text_input_ids"], batch["text_attention_mask"]),
                              want, atol=1e-6)
