"""The downstream evaluation protocols of ProtST (the paper's section 4.2, the original's `downstream` configs), on
`ProtSTForSequenceClassification`.

- `frozen`: the protein encoder is fixed; raw mean-pooled features are computed once (cached on disk, keyed by
  the encoder weights and the sequences) and only the 2-layer head trains (the original: Adam lr 5e-5,
  batch 32, 100 epochs). The trained head goes back into the model, so the result is a complete classifier.
- `full`: everything trains; the head at `head_lr` (the original: 2e-4, multi-label 1e-4) and the encoder at
  `head_lr * encoder_lr_ratio` (the original: 0.1 for ESM-1b, 0.02 for ESM-2, 0.1 for
  EC/GO); random crops of `crop`
  residues (550) in training.
- `lora`: LoRA adapters (peft) on the protein tower's attention projections plus the head; the base weights
  stay untouched and the adapter saves alone (`save_pretrained`), loadable onto the base with `PeftModel`.

Every protocol selects the epoch with the best validation value of the task's first metric and reports the test
split at that epoch. Runs under `accelerate launch` (each process trains on its shard of each batch, evaluation
is gathered); on one process it is plain PyTorch. Regression targets are standardised with the training mean and
standard deviation for the loss (as TorchDrug's `PropertyPrediction(normalization=True)`), and predictions are
mapped back before scoring.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.protst.configuration_protst import protein_residue_limit
from ..models.protst.folder_protst import atomic_open
from ..models.protst.inference_protst import embed_proteins, protein_batches, protein_inputs
from ..models.protst.losses_protst import task_loss
from ..models.protst.modeling_protst import ProtSTForSequenceClassification, ProtSTProjectionHead, load_protein_tower
from ..models.protst.processing_protst import crop
from . import metrics as metric_functions
from .tasks import TaskData, TaskSplit

logger = logging.getLogger(__name__)
PROTOCOLS = ("frozen", "full", "lora")


@dataclass
class FinetuneArguments:
    """Hyperparameters of one protocol; None takes the original's value for the protocol and task.

    Args:
        protocol: `frozen`, `full` or `lora`.
        epochs: the original: 100 (frozen, full), 50 for multi-label tasks.
        max_steps: stop after this many optimizer steps in all (quick runs and tests); None: epochs only.
        batch_size: the original: 32 (frozen); 8 proteins per step for full / LoRA (the original's per-GPU batch).
        head_lr: the original: 5e-5 frozen, 2e-4 full, 1e-4 multi-label; LoRA default 1e-3 for adapters and head.
        encoder_lr_ratio: encoder lr = head_lr * ratio (full): 0.02 for ESM-2 (rotary positions), 0.1 for
            ESM-1b (absolute positions) and multi-label tasks.
        crop: random training crop for full / LoRA; None: the task's (`Task.crop`, the original's 550);
            evaluation keeps `max_length` residues.
        max_length: residues kept at evaluation and for frozen features (1022, ESM's limit).
        lora_r, lora_alpha, lora_dropout, lora_target_modules: the LoRA adapters.
        eval_every: validate every this many epochs.
        max_tokens: token budget of evaluation / embedding batches (default: 1,024 on CPU, 16,384 on GPU).
        cache_dir: where frozen features are cached (None: no cache).
        seed: seeds the head, the data order and the crops.
    """

    protocol: str = "frozen"
    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    head_lr: float | None = None
    encoder_lr_ratio: float | None = None
    crop: int | None = None
    max_length: int = 1022
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("query", "key", "value")
    eval_every: int = 1
    max_tokens: int | None = None
    cache_dir: str | None = None
    seed: int = 0

    def resolved(self, data: TaskData, model) -> FinetuneArguments:
        """A copy with every None replaced by the original's value for this protocol, task and encoder."""
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        out = copy.deepcopy(self)
        multi = data.task.label_type == "multi_label"
        if out.epochs is None:
            out.epochs = 50 if multi else 100
        if out.batch_size is None:
            out.batch_size = 32 if out.protocol == "frozen" else 8
        if out.head_lr is None:
            out.head_lr = {"frozen": 5e-5, "full": 1e-4 if multi else 2e-4, "lora": 1e-3}[out.protocol]
        if out.crop is None:
            out.crop = data.task.crop
        if out.encoder_lr_ratio is None:
            rotary = getattr(model.config.protein_config, "position_embedding_type", "") == "rotary"
            out.encoder_lr_ratio = 0.1 if multi or not rotary else 0.02
        return out


@dataclass
class FinetuneResult:
    """What a protocol run produced: the model (or the LoRA-wrapped model), the best epoch and its metrics."""

    model: torch.nn.Module
    validation: dict
    test: dict
    best_epoch: int
    history: list = field(default_factory=list)
    train_losses: list = field(default_factory=list)
    seconds: float = 0.0
    test_scores: np.ndarray | None = None
    args: dict = field(default_factory=dict)


def load_task_model(name_or_path, data: TaskData, dtype=None):
    """`ProtSTForSequenceClassification` with a fresh head sized for the task, and the protein tokenizer.

    `name_or_path` may be a ProtST checkpoint (`ProtSTModel`, `ProtSTForPreTraining` or a task model: the
    protein tower is kept) or a plain ESM checkpoint (`facebook/esm2_t33_650M_UR50D`: the baseline encoder).
    """
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    from ..models.protst.configuration_protst import ProtSTConfig

    config = AutoConfig.from_pretrained(name_or_path)
    label_kwargs = {"num_labels": data.num_labels, "problem_type": data.task.problem_type}
    if data.label_names:
        label_kwargs["id2label"] = dict(enumerate(data.label_names))
        label_kwargs["label2id"] = {name: i for i, name in enumerate(data.label_names)}
    if config.model_type == "protst":
        model = ProtSTForSequenceClassification.from_pretrained(name_or_path, **label_kwargs)
        tokenizer = AutoProcessor.from_pretrained(name_or_path)
        # a pretraining run saves its crop (e.g. 256) as the processor's limit; tasks read whole proteins up to
        # the encoder's limit, and the protocols crop explicitly (`max_length`, `crop`)
        tokenizer.protein_max_length = min(1022, protein_residue_limit(model.config.protein_config) or 1022)
    elif config.model_type == "esm":
        encoder = load_protein_tower(name_or_path)
        model = ProtSTForSequenceClassification(ProtSTConfig(protein_config=encoder.config.to_dict(), **label_kwargs),
                                                protein_model=encoder)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    else:
        raise ValueError(f"{name_or_path}: a ProtST or ESM checkpoint is needed, got model_type "
                         f"{config.model_type!r}")
    return model, tokenizer


def encoder_fingerprint(model) -> str:
    """Hash of the protein tower's weights (the cache key of frozen features)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.protein_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def protein_features(model, tokenizer, sequences: list[str], max_length: int = 1022, max_tokens: int | None = None,
                     batch_size: int = 64) -> np.ndarray:
    """Raw mean-pooled encoder features `(N, hidden)` in input order (the task head's input)."""
    model.eval()
    return embed_proteins(model, tokenizer, sequences, batch_size=batch_size, max_tokens=max_tokens or "auto",
                          project=False, normalize=False, max_length=max_length).numpy()


def cached_features(model, tokenizer, split: TaskSplit, args: FinetuneArguments) -> np.ndarray:
    """`protein_features`, read from / written to `args.cache_dir` when set (keyed by weights and sequences)."""
    if not args.cache_dir:
        return protein_features(model, tokenizer, split.sequences, args.max_length, args.max_tokens)
    digest = hashlib.sha256(f"{encoder_fingerprint(model)}:{args.max_length}".encode())
    for sequence in split.sequences:
        digest.update(sequence.encode())
        digest.update(b"\n")
    path = Path(args.cache_dir) / f"features-{digest.hexdigest()[:24]}.npy"
    if path.exists():
        features = np.load(path)
        if features.shape == (len(split), model.config.protein_config.hidden_size):
            return features
        logger.warning("feature cache %s has the wrong shape %s: recomputing", path, features.shape)
    features = protein_features(model, tokenizer, split.sequences, args.max_length, args.max_tokens)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:  # a run killed while writing leaves no cache file that looks complete
        np.save(f, features)
    return features


def scores_from_logits(logits: torch.Tensor | np.ndarray, label_type: str) -> np.ndarray:
    """Class probabilities (single-label), per-class probabilities (multi-label) or values (regression)."""
    logits = torch.as_tensor(logits).float()
    if label_type == "single_label":
        return logits.softmax(-1).numpy()
    if label_type == "multi_label":
        return logits.sigmoid().numpy()
    return logits.squeeze(-1).numpy()


def evaluate_scores(metric_names, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {name: metric_functions.compute(name, labels, scores) for name in metric_names}


def _targets(data: TaskData, labels: np.ndarray, stats) -> torch.Tensor:
    if data.task.label_type == "regression":
        return torch.as_tensor((labels - stats[0]) / stats[1], dtype=torch.float32)
    if data.task.label_type == "multi_label":
        return torch.as_tensor(labels, dtype=torch.float32)
    return torch.as_tensor(labels, dtype=torch.long)


def _loss(data: TaskData, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return task_loss(data.task.problem_type, logits, targets)


def _regression_stats(data: TaskData):
    if data.task.label_type != "regression":
        return None
    labels = data.splits["train"].labels
    return float(labels.mean()), float(labels.std() or 1.0)


def _unscale(scores: np.ndarray, stats) -> np.ndarray:
    return scores * stats[1] + stats[0] if stats else scores


def _better(value: float, best: float | None) -> bool:
    return best is None or (not math.isnan(value) and (math.isnan(best) or value > best))


def _train_epochs(args: FinetuneArguments, data: TaskData, batches, step, validate, snapshot):
    """The loop both protocols share: epochs over a shuffled order (the same on every process), `args.max_steps`,
    validation every `args.eval_every` epochs and after the last, the best state by the task's first metric.

    `batches(order)` yields each step's row ids, `step(rows)` trains on them and returns the loss tensor,
    `validate()` returns validation metrics, `snapshot()` a copy of the state worth keeping.
    Returns `(best_state, best_epoch, history, losses)`.
    """
    generator = torch.Generator().manual_seed(args.seed)
    first_metric = data.task.metrics[0]
    best, best_state, best_epoch, history, losses, steps = None, None, 0, [], [], 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(data.splits["train"].labels), generator=generator).tolist()
        for rows in batches(order):
            losses.append(step(rows).item())
            steps += 1
            if args.max_steps and steps >= args.max_steps:
                break
        last = epoch == args.epochs or bool(args.max_steps and steps >= args.max_steps)
        if epoch % args.eval_every == 0 or last:
            value = validate()
            history.append({"epoch": epoch, "step": steps, **value})
            if _better(value[first_metric], best):
                best, best_epoch, best_state = value[first_metric], epoch, snapshot()
        if last:
            break
    return best_state, best_epoch, history, losses


def train_frozen(model, tokenizer, data: TaskData, args: FinetuneArguments) -> FinetuneResult:
    """Frozen protocol: cached encoder features, a fresh 2-layer head trained on them; the best head is put back
    into `model.classifier` (so `model` classifies sequences end to end and saves as a task checkpoint)."""
    args = args.resolved(data, model)
    start = time.perf_counter()
    features = {split: torch.from_numpy(cached_features(model, tokenizer, s, args))
                for split, s in data.splits.items()}
    stats = _regression_stats(data)
    torch.manual_seed(args.seed)
    hidden = model.config.protein_config.hidden_size
    head = ProtSTProjectionHead(hidden, hidden, data.num_labels)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.head_lr)
    targets = _targets(data, data.splits["train"].labels, stats)

    def step(rows):
        head.train()
        loss = _loss(data, head(features["train"][rows]), targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    best_state, best_epoch, history, losses = _train_epochs(
        args, data, lambda order: (order[b: b + args.batch_size] for b in range(0, len(order), args.batch_size)),
        step, lambda: _head_metrics(head, features["validation"], data, "validation", stats),
        lambda: copy.deepcopy(head.state_dict()))
    head.load_state_dict(best_state)
    model.classifier.load_state_dict(head.state_dict())
    validation = _head_metrics(head, features["validation"], data, "validation", stats)
    test_scores = _head_scores(head, features["test"], data, stats)
    test = evaluate_scores(data.task.metrics, data.splits["test"].labels, test_scores)
    return FinetuneResult(model, validation, test, best_epoch, history, losses, time.perf_counter() - start,
                          test_scores, asdict(args))


@torch.no_grad()
def _head_scores(head, features: torch.Tensor, data: TaskData, stats) -> np.ndarray:
    head.eval()
    return _unscale(scores_from_logits(head(features), data.task.label_type), stats)


def _head_metrics(head, features, data: TaskData, split: str, stats) -> dict[str, float]:
    return evaluate_scores(data.task.metrics, data.splits[split].labels, _head_scores(head, features, data, stats))


def wrap_lora(model, args: FinetuneArguments):
    """The model with LoRA adapters on the protein tower's attention projections; the head trains fully."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                        target_modules=list(args.lora_target_modules), modules_to_save=["classifier"])
    return get_peft_model(model, config)


def train_end_to_end(model, tokenizer, data: TaskData, args: FinetuneArguments, accelerator=None) -> FinetuneResult:
    """Full fine-tuning or LoRA (`args.protocol`): encoder and head train on tokenized, randomly cropped batches."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    args = args.resolved(data, model)
    start = time.perf_counter()
    # ESM's contact head never runs here: DDP must not wait for its gradients
    accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available(),
                                             kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    torch.manual_seed(args.seed)
    model.classifier = ProtSTProjectionHead(model.config.protein_config.hidden_size,
                                            model.config.protein_config.hidden_size, data.num_labels)
    if args.protocol == "lora":
        model = wrap_lora(model, args)
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": args.head_lr}]
    else:
        head = list(model.classifier.parameters())
        encoder = list(model.protein_model.parameters())
        groups = [{"params": head, "lr": args.head_lr},
                  {"params": encoder, "lr": args.head_lr * args.encoder_lr_ratio}]
    optimizer = torch.optim.Adam(groups)
    model, optimizer = accelerator.prepare(model, optimizer)
    stats = _regression_stats(data)
    train = data.splits["train"]
    targets = _targets(data, train.labels, stats)
    rng = np.random.default_rng(args.seed + accelerator.process_index)
    world, rank = accelerator.num_processes, accelerator.process_index

    def batches(order):
        global_batch = args.batch_size * world
        for begin in range(0, len(order), global_batch):
            yield order[begin: begin + global_batch][rank::world] or order[begin: begin + 1]

    def step(rows):
        model.train()
        batch = protein_inputs(tokenizer, [crop(train.sequences[i], args.crop, "random", rng) for i in rows])
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        loss = _loss(data, model(**batch).logits, targets[rows].to(accelerator.device))
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        return loss

    best_state, best_epoch, history, losses = _train_epochs(
        args, data, batches, step,
        lambda: evaluate_model(model, tokenizer, data, "validation", args, stats, accelerator),
        lambda: {k: v.detach().cpu().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()})
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.load_state_dict(best_state)
    validation = evaluate_model(model, tokenizer, data, "validation", args, stats, accelerator)
    test_scores = predict(model, tokenizer, data.splits["test"].sequences, data, args, stats, accelerator)
    test = evaluate_scores(data.task.metrics, data.splits["test"].labels, test_scores)
    return FinetuneResult(unwrapped, validation, test, best_epoch, history, losses, time.perf_counter() - start,
                          test_scores, asdict(args))


@torch.no_grad()
def predict(model, tokenizer, sequences: list[str], data: TaskData, args: FinetuneArguments, stats=None,
            accelerator=None) -> np.ndarray:
    """Scores for `sequences` (`max_length` residues, cut as the processor cuts them), length-batched; with several
    processes each scores a strided share and the shares are gathered back into input order."""
    model.eval()
    device = accelerator.device if accelerator else next(model.parameters()).device
    world, rank = (accelerator.num_processes, accelerator.process_index) if accelerator else (1, 0)
    mine = [sequences[i] for i in range(rank, len(sequences), world)]
    out = np.zeros((len(mine), data.num_labels), dtype=np.float32)
    # the proteins read as for embedding: `max_length` residues cut by the processor's truncation policy
    for chunk, batch in protein_batches(tokenizer, mine, 64, args.max_tokens or "auto", device, args.max_length):
        out[chunk] = model(**batch).logits.float().cpu().numpy()
    if world > 1:
        padded = np.zeros((math.ceil(len(sequences) / world), data.num_labels), dtype=np.float32)
        padded[: len(out)] = out
        gathered = accelerator.gather(torch.from_numpy(padded).to(device)).cpu().numpy()
        gathered = gathered.reshape(world, -1, data.num_labels)
        out = np.zeros((len(sequences), data.num_labels), dtype=np.float32)
        for r in range(world):
            rows = list(range(r, len(sequences), world))
            out[rows] = gathered[r, : len(rows)]
    return _unscale(scores_from_logits(out, data.task.label_type), stats)


def evaluate_model(model, tokenizer, data: TaskData, split: str, args, stats=None, accelerator=None) -> dict:
    scores = predict(model, tokenizer, data.splits[split].sequences, data, args, stats, accelerator)
    return evaluate_scores(data.task.metrics, data.splits[split].labels, scores)


def finetune(model, tokenizer, data: TaskData, args: FinetuneArguments, accelerator=None) -> FinetuneResult:
    """Run `args.protocol` on `data` (model selection on validation, test at the best epoch)."""
    if args.protocol == "frozen":
        return train_frozen(model, tokenizer, data, args)
    return train_end_to_end(model, tokenizer, data, args, accelerator)


def save_result(result: FinetuneResult, output_dir: str | Path, tokenizer=None) -> Path:
    """Save the trained model (a LoRA run saves its adapter and head only) with the processor and a result JSON."""
    output_dir = Path(output_dir)
    result.model.save_pretrained(output_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    summary = {"validation": result.validation, "test": result.test, "best_epoch": result.best_epoch,
               "history": result.history, "seconds": result.seconds, "args": result.args}
    (output_dir / "finetune_result.json").write_text(json.dumps(summary, indent=2, default=str))
    return output_dir


__all__ = ["PROTOCOLS", "FinetuneArguments", "FinetuneResult", "cached_features", "encoder_fingerprint", "finetune",
           "load_task_model", "predict", "protein_features", "save_result", "scores_from_logits",
           "train_end_to_end", "train_frozen", "wrap_lora"]
