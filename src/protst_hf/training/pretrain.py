"""ProtST pretraining with accelerate: one CPU process to multi-node DDP or DeepSpeed ZeRO-2/3.

The loop computes no loss of its own: `ProtSTForPreTraining` returns the weighted objectives (the contrastive
term gathered across processes with gradient). Batches are a pure function of (seed, epoch, batch index), each
process takes its share, and checkpoints record where the run stands, so a resumed run continues with exactly the
batches and masks it would have seen. Validation lives in `validation.py`, the exported folders and curves in
`export.py`, the model and processor in `build.py`.
"""

import dataclasses
import importlib.util
import json
import logging
import math
import os
import time
from collections import Counter
from pathlib import Path

import torch

from ..data.collator import ProtSTDataCollatorForPretraining
from ..data.pretraining_data import (
    CollatedBatches,
    batch_loader,
    count_texts,
    index_rows,
    load_pairs,
    make_batches,
    shard,
    streaming_batches,
)
from ..models.protst.inference_protst import native_bfloat16
from ..models.protst.modeling_protst import ProtSTForPreTrainingOutput
from .arguments import DataArguments, ModelArguments, TrainArguments
from .build import build_model, build_processor, parameter_groups
from .checkpoint import (
    CorruptCheckpointError,
    clean_incomplete,
    load_state,
    read_state,
    resolve_resume,
    save_checkpoint,
)
from .export import export_model, plot_curves
from .freezing import train_mode
from .text_bank import build_text_bank
from .validation import PretrainingValidator, ZeroShotSet, selection_metric, unigram_baselines

logger = logging.getLogger("protst_hf.pretrain")
# the loss terms and head accuracies of the model's output, as logged and plotted
TERMS = tuple(f.name for f in dataclasses.fields(ProtSTForPreTrainingOutput) if f.name.endswith(("loss", "accuracy")))


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the state was saved for inspection."""


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


class Pretrainer:
    """Holds one run: `Pretrainer(model_args, data_args, train_args).train()`.

    Args:
        callbacks (`list`, *optional*): objects whose `on_step_end(trainer)` runs after every optimizer step, once
            that step's logging, validation and checkpoint are done (`trainer.state["global_step"]` is the step).
    """

    def __init__(self, model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments,
                 callbacks: list | None = None):
        self.model_args, self.data_args, self.args = model_args, data_args, train_args
        self.output_dir = Path(train_args.output_dir)
        self.callbacks = list(callbacks or [])
        self.last_metrics = None

    def _accelerator(self):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

        config = self.model.config  # built first: the weights it trains with, whatever flag set them
        weights = (config.contrastive_weight, config.mlm_weight, config.mmp_protein_weight, config.mmp_text_weight)
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=any(w == 0 for w in weights))]
        if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            handlers.append(InitProcessGroupKwargs(backend="gloo"))  # DDP / DeepSpeed on CPU
        trackers = [t.strip() for t in self.args.report_to.split(",") if t.strip() and t.strip() != "none"]
        trackers = [t for t in trackers if t != "wandb" or importlib.util.find_spec("wandb") is not None]
        if "tensorboard" in trackers and importlib.util.find_spec("tensorboard") is None:
            trackers.remove("tensorboard")
        precision = {}
        if self.args.mixed_precision:
            device = "cpu" if self.args.cpu or not torch.cuda.is_available() else "cuda"
            precision["mixed_precision"] = ("bf16" if native_bfloat16(device) else "no") \
                if self.args.mixed_precision == "auto" else self.args.mixed_precision
        return Accelerator(cpu=self.args.cpu, gradient_accumulation_steps=self.args.gradient_accumulation_steps,
                           log_with=trackers or None, project_dir=str(self.output_dir), kwargs_handlers=handlers,
                           **precision)

    def setup(self) -> None:
        from accelerate.utils import set_seed

        args = self.args
        if not self.data_args.dataset:
            raise ValueError("no dataset: pass --dataset (a folder from `protst build-protdescribe`, a Hub id, or "
                             "parquet files)")
        set_seed(args.seed)
        self._load_data()  # first: a dataset without usable rows fails before any model is loaded
        self.processor = build_processor(self.model_args, self.data_args)
        self.model = build_model(self.model_args, self.processor)  # before the Accelerator: see build_model
        self.text_bank = None
        if self.model.config.contrastive_text_bank:
            if self.data_args.streaming:
                raise ValueError("contrastive_text_bank needs a map-style dataset (its texts are embedded once); "
                                 "drop --streaming")
            # before prepare: the whole model is in every process (ZeRO-3 has not partitioned the text tower yet)
            self.text_bank = build_text_bank(self.model.protst, self.processor, self.row_keys,
                                             self.model.config.text_bank_part_weight)
            logger.info("text bank: %d texts for %d distinct training texts", len(self.text_bank.texts),
                        len(self.text_counts))
        self.accelerator = accelerator = self._accelerator()
        _check_deepspeed(accelerator)
        logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.collator = ProtSTDataCollatorForPretraining.from_config(
            self.processor, self.model.config, crop_length=self.data_args.crop_length,
            crop_policy=self.data_args.crop_policy, seed=args.seed, text_unit=self.data_args.text_unit,
            protein_mask_rate=self.data_args.protein_mask_rate, text_mask_rate=self.data_args.text_mask_rate)

        plugin = getattr(accelerator.state, "deepspeed_plugin", None)
        groups = parameter_groups(self.model, args.learning_rate, args.encoder_lr_ratio, args.weight_decay)
        optimizer = self._optimizer(groups, plugin)
        self.total_steps = self._total_steps()
        if args.lr_scheduler not in ("constant", "linear", "cosine"):
            raise ValueError(f"--lr_scheduler must be constant, linear or cosine, got {args.lr_scheduler!r}")
        # stepped here once per optimizer step (not prepared: accelerate would step it once per process)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        accelerator.register_for_checkpointing(self.scheduler)
        if plugin is not None:  # no dataloader goes through prepare(): DeepSpeed needs the micro-batch size
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = args.per_device_batch_size
            # "auto" would clip at 1.0; clip only when asked, as without DeepSpeed (0 = off)
            plugin.deepspeed_config["gradient_clipping"] = args.max_grad_norm or 0.0
        self.model, self.optimizer = accelerator.prepare(self.model, optimizer)
        self.unwrapped = accelerator.unwrap_model(self.model)
        if self.text_bank is not None:
            self.text_bank.features = self.text_bank.features.to(accelerator.device)
        if hasattr(self.unwrapped.protst.logit_scale, "ds_id"):
            import deepspeed

            # ZeRO-3 gathers a module's parameters when that module's forward runs; `logit_scale` is read by
            # ProtSTForPreTraining.forward, not by a forward of its owner: register it with the reader
            deepspeed.zero.register_external_parameter(self.unwrapped, self.unwrapped.protst.logit_scale)

        self.state = {"global_step": 0, "epoch": 0, "batches_in_epoch": 0, "samples_seen": 0, "train_seconds": 0.0,
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
            load_state(accelerator, checkpoint)
            self.state.update(state)
            logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, state["global_step"],
                        state["epoch"], state["batches_in_epoch"])
        elif args.resume_from_checkpoint == "latest":
            logger.info("no checkpoint in %s yet: starting from scratch", self.output_dir)
        self.validator = self._validator()
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
        self.text_counts, self.row_keys = None, None
        if not data_args.streaming:
            self.train_rows = index_rows(self.train)
            self.excluded = dict(self.train_rows.excluded)
            if len(self.train_rows.indices) == 0:
                raise ValueError(f"no usable rows in {data_args.dataset}:{data_args.train_split} "
                                 f"({len(self.train)} rows; excluded: {self.excluded})")
            if self.excluded:
                logger.warning("excluded training rows: %s", self.excluded)
            # how often each text occurs in training: the frequency baseline of validation, the text bank, and the
            # training_texts.json of exported models (the prior of zero-shot scoring)
            self.text_counts, self.row_keys = count_texts(self.train, self.train_rows.indices)
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
        self.zero_shot = ZeroShotSet.from_files(data_args.zero_shot_file, data_args.zero_shot_labels,
                                                data_args.zero_shot_label_set) if data_args.zero_shot_file else None

    def _validator(self) -> PretrainingValidator | None:
        if self.validation is None:
            return None
        counts = self.text_counts if self.text_counts is not None else Counter()
        unigram = unigram_baselines(self.collator, self.validation, self.data_args.eval_max_length)
        return PretrainingValidator(self, self.validation, self.zero_shot, counts, unigram)

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
        clock, out_of_time = time.perf_counter(), False
        while state["global_step"] < self.total_steps and not out_of_time:
            epoch, skip = state["epoch"], state["batches_in_epoch"]
            train_mode(self.model, self.unwrapped)
            produced = False
            for batch in self._batches(epoch, skip):
                produced = True
                row_ids = batch.pop("row_ids")
                positions = batch.pop("row_positions", None)
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                if self.text_bank is not None:
                    batch["text_bank_features"] = self.text_bank.features
                    batch["text_bank_targets"] = self.text_bank.targets(positions, accelerator.device)
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
                if self.validator is not None and step % args.eval_steps == 0:
                    self.evaluate()
                if step % args.save_steps == 0:
                    save_checkpoint(accelerator, self.output_dir, step, self.state, args.save_total_limit)
                for callback in self.callbacks:
                    callback.on_step_end(self)
                clock = self._advance_clock(clock)
                out_of_time = self._out_of_time()
                if step >= self.total_steps or out_of_time:
                    break
            else:
                if not produced and skip == 0:
                    raise ValueError("an epoch produced no batch for this process (fewer batches than processes?)")
                state["epoch"], state["batches_in_epoch"] = epoch + 1, 0
        if window["count"]:
            self._log(window, progress)
        step = state["global_step"]
        if self.validator is not None and (step % args.eval_steps != 0 or self.last_metrics is None):
            self.evaluate()  # the final metrics (also when a finished run is resumed)
        if step % args.save_steps != 0:
            save_checkpoint(accelerator, self.output_dir, step, self.state, args.save_total_limit)
        if args.export_final:
            export_model(self, self.output_dir / "final")
        summary = self._summary()
        if accelerator.is_main_process:
            progress.close()
            (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            plot_curves(self.output_dir)
        accelerator.end_training()
        return summary

    def _advance_clock(self, clock: float) -> float:
        """Add the time since `clock` to `state["train_seconds"]`, the slowest process's, so that every process sees
        the same time (and the same learning rate); returns the new clock."""
        now = time.perf_counter()
        elapsed = now - clock
        if self.args.max_minutes and self.accelerator.num_processes > 1:
            elapsed = float(self.accelerator.reduce(torch.tensor([elapsed], device=self.accelerator.device),
                                                    reduction="max"))
        self.state["train_seconds"] += elapsed
        return now

    def _time_fraction(self) -> float:
        """The share of the `max_minutes` budget spent so far (0 without a budget); resumed runs count earlier
        processes' time too."""
        state = getattr(self, "state", None)
        if not self.args.max_minutes or state is None:
            return 0.0
        return state["train_seconds"] / (60 * self.args.max_minutes)

    def _lr_factor(self, step: int) -> float:
        """The learning-rate multiplier after `step` optimizer steps: linear warmup, then constant, linear or cosine
        decay. With `max_minutes`, the decay follows the larger of step progress and time progress, so that a run
        stopped by its time budget has annealed fully on a slow machine as on a fast one."""
        args = self.args
        if step < args.warmup_steps:
            return step / max(1, args.warmup_steps)
        if args.lr_scheduler == "constant":
            return 1.0
        progress = (step - args.warmup_steps) / max(1, self.total_steps - args.warmup_steps)
        progress = min(1.0, max(progress, self._time_fraction()))
        if args.lr_scheduler == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def _out_of_time(self) -> bool:
        """Whether the `max_minutes` budget is spent."""
        spent = self._time_fraction() >= 1.0  # the same on every process: their clocks advance together
        if spent and self.accelerator.is_main_process:
            logger.info("the %.0f-minute budget is spent at step %d", self.args.max_minutes, self.state["global_step"])
        return spent

    def _micro_step(self, batch: dict, row_ids: list, window: dict) -> bool:
        """Forward and backward of one micro-batch; True when an optimizer step completed."""
        accelerator, args = self.accelerator, self.args
        with accelerator.accumulate(self.model):
            output = self.model(**batch)
            loss = output.loss
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
        for name in TERMS:
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
        terms = {k: float(getattr(output, k)) for k in TERMS if k.endswith("loss") and getattr(output, k) is not None}
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

    def evaluate(self) -> dict:
        """Validation metrics (see `validation.py`); the model goes to `best/` when the selection metric improves."""
        accelerator, state = self.accelerator, self.state
        self.model.eval()
        metrics = self.validator.evaluate()
        train_mode(self.model, self.unwrapped)
        record = {f"eval/{k}": round(v, 5) for k, v in metrics.items()}
        record["step"] = state["global_step"]
        accelerator.log(record, step=state["global_step"])
        if accelerator.is_main_process:
            with open(self.output_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            shown = {k: round(v, 4) for k, v in metrics.items() if not k.endswith(("_chance", "_frequency"))
                     and "/" not in k and "unigram" not in k}
            logger.info("step %d: %s", state["global_step"], shown)
        name = selection_metric(self.args.metric_for_best_model, self.zero_shot is not None)
        value = metrics.get(name)
        if value is None:
            raise KeyError(f"--metric_for_best_model {name!r} is not among {sorted(metrics)}")
        better = state["best_metric"] is None or (value > state["best_metric"] if self.args.greater_is_better
                                                  else value < state["best_metric"])
        if better:
            state["best_metric"], state["best_step"] = value, state["global_step"]
            export_model(self, self.output_dir / "best", metrics)
        self.last_metrics = metrics
        if accelerator.is_main_process:
            plot_curves(self.output_dir)
        return metrics

    def _summary(self) -> dict:
        name = selection_metric(self.args.metric_for_best_model, self.zero_shot is not None)
        return {"steps": self.state["global_step"], "best_step": self.state["best_step"],
                "best_metric": {name: self.state["best_metric"]},
                "final_metrics": self.last_metrics,
                "skipped_nonfinite": self.state["skipped_nonfinite"],
                "excluded_rows": self.excluded, "samples_seen": self.state["samples_seen"],
                "protein_tokens_seen": self.state["protein_tokens_seen"],
                "output_dir": str(self.output_dir), "final_model": str(self.output_dir / "final"),
                "best_model": str(self.output_dir / "best") if self.state["best_step"] is not None else None}


def run_pretraining(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments,
                    callbacks: list | None = None) -> dict:
    """Train, validate, checkpoint and export; returns the run summary (also written to summary.json) on the main
    process, None on the others."""
    trainer = Pretrainer(model_args, data_args, train_args, callbacks)
    summary = trainer.train()
    return summary if trainer.accelerator.is_main_process else None


__all__ = ["CorruptCheckpointError", "NonFiniteLossError", "Pretrainer", "TERMS", "run_pretraining"]
