"""Pretraining throughput on CPU: this loop's step against a plain transformers two-tower baseline, one run.

    python -m benchmarks.bench_pretrain_cpu [--steps 30] [--batch_size 12] [--crop 256]

Both train the same towers (ESM-2 8M architecture, a 2-layer 128-wide BERT, random weights) on the same real
Swiss-Prot pairs (the sample shipped in the package), for the same number of optimizer steps and samples:

- protst-hf: `ProtSTForPreTraining` (contrastive + MLM + both MMP terms), length-grouped batches, text tower frozen.
- baseline: what stock transformers code does: `EsmForMaskedLM` + `BertModel`, CLIP-style contrastive loss on
  mean-pooled states plus MLM (`DataCollatorForLanguageModeling`), sequences padded to the crop length
  (`padding="max_length"`), shuffled batches, both towers trained.

Prints real (non-padding) protein tokens/s of each and the ratio. Timings exclude the first 3 steps (warm-up).
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F


def rows_and_processor():
    from protst_hf.resources import demo_processor, demo_rows

    return demo_rows(), demo_processor()


def bench_protst(rows, processor, steps, batch_size, crop) -> float:
    from protst_hf import ProtSTDataCollatorForPretraining, ProtSTForPreTraining
    from protst_hf.data.pretraining_data import make_batches
    from protst_hf.resources import demo_config

    torch.manual_seed(0)
    model = ProtSTForPreTraining(demo_config(projection_dim=128)).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    collator = ProtSTDataCollatorForPretraining(processor, crop_length=crop)
    lengths = np.array([len(r["sequence"]) for r in rows])
    batches, epoch = [], 0
    while len(batches) < steps:
        batches += make_batches(lengths, batch_size, seed=0, epoch=epoch, crop_length=crop)
        epoch += 1
    tokens, elapsed = 0, 0.0
    for step, positions in enumerate(batches[:steps]):
        features = [{"sequence": rows[i]["sequence"], "text": {k: rows[i][k] for k in
                     ("prot_name", "function", "subloc", "similarity")}} for i in positions]
        batch = collator(features, batch_key=(0, step))
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 3:
            elapsed += time.perf_counter() - start
            tokens += int(batch["protein_attention_mask"].sum()) - 2 * len(positions)
    return tokens / elapsed


def bench_baseline(rows, processor, steps, batch_size, crop) -> float:
    from transformers import BertModel, DataCollatorForLanguageModeling, EsmForMaskedLM

    from protst_hf.resources import demo_config

    config = demo_config(projection_dim=128)
    torch.manual_seed(0)
    protein = EsmForMaskedLM(config.protein_config).train()
    text = BertModel(config.text_config, add_pooling_layer=False).train()
    protein_head = torch.nn.Linear(config.protein_config.hidden_size, 128)
    text_head = torch.nn.Linear(config.text_config.hidden_size, 128)
    parameters = [*protein.parameters(), *text.parameters(), *protein_head.parameters(), *text_head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-4)
    mlm = DataCollatorForLanguageModeling(processor.protein_tokenizer, mlm_probability=0.15)
    rng = np.random.default_rng(0)
    tokens, elapsed = 0, 0.0
    for step in range(steps):
        positions = rng.choice(len(rows), batch_size, replace=False)
        proteins = [rows[i]["sequence"][:crop] for i in positions]
        texts = [" ".join(rows[i][k] for k in ("prot_name", "function", "subloc", "similarity")) for i in positions]
        encoded = processor.protein_tokenizer(proteins, padding="max_length", max_length=crop + 2, truncation=True)
        masked = mlm([{"input_ids": ids} for ids in encoded["input_ids"]])
        attention = torch.tensor(encoded["attention_mask"])
        text_batch = processor.tokenizer(texts, padding="max_length", max_length=256, truncation=True,
                                         return_tensors="pt")
        start = time.perf_counter()
        out = protein(input_ids=masked["input_ids"], attention_mask=attention, labels=masked["labels"],
                      output_hidden_states=True)
        hidden = out.hidden_states[-1]
        pooled = (hidden * attention[..., None]).sum(1) / attention.sum(1, True)
        protein_embeds = F.normalize(protein_head(pooled), dim=-1)
        text_hidden = text(**text_batch).last_hidden_state
        mask = text_batch["attention_mask"][..., None]
        text_embeds = F.normalize(text_head((text_hidden * mask).sum(1) / mask.sum(1)), dim=-1)
        logits = protein_embeds @ text_embeds.t() / 0.07
        labels = torch.arange(len(positions))
        loss = out.loss + F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 3:
            elapsed += time.perf_counter() - start
            tokens += int(attention.sum()) - 2 * len(positions)
    return tokens / elapsed


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=12)
    parser.add_argument("--crop", type=int, default=256)
    args = parser.parse_args()
    rows, processor = rows_and_processor()
    lengths = [min(len(r["sequence"]), args.crop) for r in rows]
    print(f"{len(rows)} Swiss-Prot pairs, median cropped length {int(np.median(lengths))}, crop {args.crop}, batch "
          f"{args.batch_size}, {args.steps} steps, {torch.get_num_threads()} threads")
    ours = bench_protst(rows, processor, args.steps, args.batch_size, args.crop)
    baseline = bench_baseline(rows, processor, args.steps, args.batch_size, args.crop)
    print(f"{'protst-hf step (grouped, frozen text)':<42} {ours:>9,.0f} real protein tokens/s")
    print(f"{'stock two-tower step (padded, shuffled)':<42} {baseline:>9,.0f} real protein tokens/s")
    print(f"ratio: {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
