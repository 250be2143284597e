"""What every user of a trained ProtST model shares: FASTA reading, length-grouped batching, the embedding loops for
proteins and texts, the built-in label sets, temperature calibration, and CPU/GPU precision settings.

The pipelines, `protst embed`, the evaluation protocols and pretraining's validation all call these functions. This
file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import contextlib
import csv
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .processing_protst import clean_protein, crop


def iter_fasta(lines: Iterable[str], validate: bool = True) -> Iterator[tuple[str, str | None, str]]:
    """Stream a FASTA file's lines: `("record", id, sequence)` for usable records and `("problem", None, why)` for
    skipped ones (a sequence before any header, an empty sequence, a character that is not a residue; see
    `clean_protein`). Sequences may span lines; ids are the header's first word. With `validate=False` every
    record comes back with its residues joined as written (whitespace removed), for callers that count bad rows
    themselves."""
    identifier, parts, header_line, count = None, [], 0, 0

    def close():
        if not validate:
            return ("record", identifier, "".join("".join(parts).split()))
        try:
            return ("record", identifier, clean_protein("".join(parts), f"record {identifier!r} (line {header_line})"))
        except ValueError as err:
            return ("problem", None, str(err))

    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if identifier is not None:
                yield close()
            count += 1
            identifier, parts, header_line = (line[1:].split() or [f"record_{count}"])[0], [], number
        elif identifier is None:
            yield ("problem", None, f"line {number}: sequence before any '>' header")
        else:
            parts.append(line)
    if identifier is not None:
        yield close()


def is_fasta(source) -> bool:
    """True for FASTA text (starts with `>`) or the path of an existing file."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    text = str(source)
    return text.lstrip().startswith(">") or (len(text) < 4096 and os.path.isfile(text))


def read_fasta(source: str | os.PathLike) -> tuple[list[tuple[str, str]], list[str]]:
    """Records `(id, sequence)` of a FASTA file (or of FASTA text starting with `>`), and the problems of the
    records that were skipped (see [`iter_fasta`])."""
    text = str(source)
    if text.lstrip().startswith(">"):
        items = list(iter_fasta(text.splitlines()))
    else:
        with open(source) as f:
            items = list(iter_fasta(f))
    records = [(i, s) for kind, i, s in items if kind == "record"]
    return records, [s for kind, _, s in items if kind == "problem"]




def default_max_tokens(device) -> int:
    """Tokens per protein batch: small on CPU, where activations that stay in cache beat large matrices (ESM-2 8M,
    2 cores: 1,024 tokens per batch embeds 1.4x faster than 8,192, see benchmarks/bench_embed.py), large on GPUs."""
    return 1024 if torch.device(device).type == "cpu" else 16384


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Positions grouped into batches of similar lengths, longest first: at most `batch_size` items and, when
    `max_tokens` is set, at most that many padded tokens (an item longer than the budget gets a batch alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # the batch pads to its first (longest) item
        if current and (len(current) == batch_size or (max_tokens and (len(current) + 1) * width > max_tokens)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def autocast(device, dtype: str | None):
    """`torch.autocast` for `dtype` ("bfloat16", "float16") on the device's type, or a no-op for None/"float32"."""
    if dtype in (None, "float32"):
        return contextlib.nullcontext()
    if dtype not in ("bfloat16", "float16"):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype))


def protein_inputs(tokenizer, sequences: Sequence[str]) -> dict[str, torch.Tensor]:
    """`protein_input_ids` / `protein_attention_mask` of `sequences` from a `ProtSTProcessor`, or from a plain ESM
    tokenizer (an ESM checkpoint evaluated as a baseline). Residues are checked the same way for both."""
    if hasattr(tokenizer, "protein_tokenizer"):
        batch = tokenizer(proteins=list(sequences), return_tensors="pt")
        return {"protein_input_ids": batch["protein_input_ids"],
                "protein_attention_mask": batch["protein_attention_mask"]}
    cleaned = [clean_protein(s, f"protein {i}") for i, s in enumerate(sequences)]
    batch = tokenizer(cleaned, padding=True, return_tensors="pt")
    return {"protein_input_ids": batch["input_ids"], "protein_attention_mask": batch["attention_mask"]}


def _device(model) -> torch.device:
    return next(model.parameters()).device




@torch.no_grad()  # not inference_mode: DeepSpeed ZeRO-3 swaps parameter storage in forward hooks
def embed_proteins(model, processor, sequences: Sequence[str], batch_size: int = 64, max_tokens: int | str | None =
                   "auto", project: bool = True, normalize: bool = True, dtype: str | None = None,
                   max_length: int | None = None) -> torch.Tensor:
    """Protein embeddings `(N, D)` float32 on the CPU, in input order.

    Proteins are grouped by length into batches of at most `batch_size` proteins and `max_tokens` padded tokens
    (`"auto"`: `default_max_tokens` of the model's device; `None`: no token budget, so the number of batches depends
    on N alone, as distributed evaluation needs), and run under autocast to `dtype` when given.

    Args:
        model: a ProtST model (`get_protein_features`); a task model gives raw features only (`project=False`).
        processor: a `ProtSTProcessor`, or a plain ESM tokenizer.
        project / normalize: projected to the shared space and L2-normalised (search, zero-shot), or the raw
            mean-pooled tower features (`project=False, normalize=False`, the input of downstream heads).
        max_length: keep `max_length` residues of each protein, cut by the processor's `truncation_policy` (default:
            the processor's own limit).
    """
    device = _device(model)
    limit = max_length or getattr(processor, "protein_max_length", 1022)
    if max_length:  # cut as the processor cuts proteins over its own limit
        policy = getattr(processor, "truncation_policy", "n_terminal")
        sequences = [crop(s, max_length, policy) for s in sequences]
    lengths = [min(len(s), limit) + 2 for s in sequences]
    budget = default_max_tokens(device) if max_tokens == "auto" else max_tokens
    result: list[torch.Tensor | None] = [None] * len(sequences)
    for chunk in length_batches(lengths, batch_size, budget):
        batch = {k: v.to(device) for k, v in protein_inputs(processor, [sequences[i] for i in chunk]).items()}
        with autocast(device, dtype):
            features = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"],
                                                  normalize=normalize, project=project)
        for row, i in enumerate(chunk):
            result[i] = features[row].float().cpu()
    return torch.stack(result) if result else torch.empty(0)


@torch.no_grad()
def embed_texts(model, processor, texts: Sequence, batch_size: int = 32, project: bool = True,
                normalize: bool = True, dtype: str | None = None) -> torch.Tensor:
    """Text embeddings `(N, D)` float32 on the CPU, in input order: label prompts (strings) are `[CLS]` + tokens, no
    `[SEP]` (the original's zero-shot layout); mappings of ProtDescribe fields use the pretraining layout."""
    device = _device(model)
    protst = getattr(model, "protst", model)
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = processor(text=list(texts[start: start + batch_size]), return_tensors="pt").to(device)
        with autocast(device, dtype):
            parts.append(protst.get_text_features(batch["text_input_ids"], batch["text_attention_mask"],
                                                  normalize=normalize, project=project).float().cpu())
    return torch.cat(parts) if parts else torch.empty(0)


def logit_scale(model) -> float:
    """exp(logit_scale), clamped as the model's config says: the factor of zero-shot logits."""
    protst = getattr(model, "protst", model)
    return float(protst.clamped_logit_scale().detach().float().exp())



# name -> (file, text column, template, display-name file). A column of several `|`-separated values gives each class
# several prompts, whose embeddings are averaged (prompt ensembling, as CLIP's zero-shot classifiers).
LABEL_SETS = {
    # the 10 DeepLoc classes as Swiss-Prot words them ("Secreted", "Endoplasmic reticulum membrane", ...), which
    # is how ProtST's pretraining texts (ProtDescribe's SUBCELLULAR LOCATION field) name locations
    "subcellular_location": ("subloc_swissprot.tsv", "keywords", "SUBCELLULAR LOCATION: {}.", "subloc_swissprot.tsv"),
    # the original's prompts (ProtST's subloc_name.tsv): the DeepLoc class names, one prompt each
    "subcellular_location_protst": ("subloc_name.tsv", "name", "SUBCELLULAR LOCATION: {}.", "subloc_name.tsv"),
    "subcellular_location_description": ("subloc_template.tsv", "description", "{}", "subloc_name.tsv"),
    "reaction": ("reaction_template.tsv", "name", "{}", "reaction_name.tsv"),
    "reaction_description": ("reaction_template.tsv", "description", "{}", "reaction_name.tsv"),
}
LABEL_SETS_DIRECTORY = Path(__file__).parent / "label_sets"


def label_set_files() -> list[str]:
    """The files of `label_sets/` that the built-in sets read."""
    return sorted({entry[0] for entry in LABEL_SETS.values()} | {entry[3] for entry in LABEL_SETS.values()})


def label_set_prompts(name: str, directory: Path = LABEL_SETS_DIRECTORY) -> tuple[list[str], list[list[str]]]:
    """(display names, the prompts of each class) of a built-in label set read from `directory`."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; built-in sets: {sorted(LABEL_SETS)}")
    filename, column, template, names_file = LABEL_SETS[name]

    def read(file):
        with open(Path(directory) / file, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    prompts = [[template.format(value.strip()) for value in row[column].split("|") if value.strip()]
               if column == "keywords" else [template.format(row[column].strip())] for row in read(filename)]
    names = [row["name"].strip() for row in read(names_file)]
    return names, prompts


def class_embeddings(model, processor, prompts: Sequence[Sequence[str]], dtype: str | None = None) -> torch.Tensor:
    """(classes, D) normalised class embeddings: the mean of each class's normalised prompt embeddings, normalised."""
    flat = [text for group in prompts for text in group]
    embeds = embed_texts(model, processor, flat, dtype=dtype)
    sizes = torch.tensor([len(group) for group in prompts])
    owner = torch.repeat_interleave(torch.arange(len(prompts)), sizes)
    sums = torch.zeros(len(prompts), embeds.shape[1]).index_add_(0, owner, embeds)
    return torch.nn.functional.normalize(sums / sizes[:, None], dim=-1)




def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 200) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 minimising the NLL of softmax(logits / T) on a
    labelled validation set, within [0.01, 100]. Stored as `model.config.zero_shot_temperature` (see
    `ZeroShotProteinClassificationPipeline.calibrate`), the zero-shot pipeline divides by it."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not 1e-2 <= temperature <= 1e2:
        warnings.warn(f"fitted temperature {temperature:.3g} clipped to [0.01, 100]: the logits rank the labels "
                      "no better than chance (T -> infinity) or perfectly separate them (T -> 0)", stacklevel=2)
        temperature = min(max(temperature, 1e-2), 1e2)
    return temperature



PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def native_bfloat16(device) -> bool:
    """True where bf16 matrix products run on dedicated units: CUDA GPUs with bf16 support, and CPUs with AMX or
    AVX-512 BF16. Elsewhere (e.g. AVX2-only CPUs) bf16 is emulated and slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if any(check is not None for check in checks):
        return any(check() for check in checks if check is not None)
    try:  # older torch: the CPU's flags
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cpu_model() -> str:
    """The CPU's model name (what a speed figure measured on it needs beside it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def resolve_precision(precision: str, device) -> str:
    """`"auto"` -> `"bfloat16"` where the device computes it natively ([`native_bfloat16`]), else `"float32"`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def prepare_for_inference(model, packed: bool | None = True, precision: str = "float32"):
    """Set `model` (a ProtST model) up for embedding, in place; returns it in eval mode.

    - `packed`: run the protein tower unpadded (`packing_protst.py`); outputs equal the padded path's.
    - `precision`: `float32` (default: weights unchanged); `auto` (bf16 where the device computes it natively, see
      [`native_bfloat16`], else float32: the default of `protst embed`); `bfloat16` (tower weights cast to bf16;
      the projection heads stay float32 and features come back float32); `int8` (dynamic int8 quantisation of
      every `nn.Linear` of the towers, CPU only: int8 weights, activations quantised per batch). The accuracy
      change of each is measured by `benchmarks/cpu_suite.py`.
    """
    protst = getattr(model, "protst", model)
    precision = resolve_precision(precision, _device(model))
    if packed is not None:
        for config in {id(c): c for c in (model.config, protst.config)}.values():
            config.protein_packed = bool(packed)
    model.eval()
    if precision == "bfloat16":
        for tower in (protst.protein_model, protst.text_model):
            tower.to(torch.bfloat16)
    elif precision == "int8":
        if _device(model).type != "cpu":
            raise ValueError("int8 dynamic quantisation runs on CPU only; use bfloat16 on GPU")
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao (not needed)
            for name in ("protein_model", "text_model"):
                setattr(protst, name, quantize_dynamic(getattr(protst, name), {nn.Linear}, dtype=torch.qint8))
    return model


__all__ = [
    "LABEL_SETS",
    "PRECISIONS",
    "autocast",
    "class_embeddings",
    "cpu_model",
    "default_max_tokens",
    "embed_proteins",
    "embed_texts",
    "expected_calibration_error",
    "fit_temperature",
    "is_fasta",
    "iter_fasta",
    "label_set_files",
    "label_set_prompts",
    "length_batches",
    "logit_scale",
    "native_bfloat16",
    "prepare_for_inference",
    "protein_inputs",
    "read_fasta",
    "resolve_precision",
]
