"""The paper's SFT recipe on transformers' Trainer, writing an extended checkpoint `longeval run` evaluates as is.

Recipe (arXiv 2401.07004, Appendix A): AdamW beta1 0.9, beta2 0.95, weight decay 0.1, cosine schedule, peak LR
2e-5, 2 epochs, global batch 32 with no warm-up for small data (100 samples -> 3 full batches per epoch -> 6
steps; incomplete batches are dropped), loss on response tokens only, sequences up to the target length, bf16
mixed precision and TF32 on GPU, gradient checkpointing. The model is built exactly as the evaluation builds it
(`load_hf_model`: the method's config and, for EABF, its query-scale attention), so training sees the same model.

Devices are the Trainer's business: one process runs on one device (or the CPU); `accelerate launch` with a
DeepSpeed ZeRO-3 or FSDP config spreads it over GPUs (the paper used ZeRO-3 on 4 A100). The global batch stays
32 whatever the number of processes: gradient accumulation = batch / (micro batch x processes).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from longeval.errors import UserError
from longeval.finetune.conversations import IGNORE, Example


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters (defaults: the paper's small-data recipe)."""

    max_length: int = 16384
    batch_size: int = 32
    micro_batch_size: int = 1
    epochs: float = 2.0
    learning_rate: float = 2e-5
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    warmup_steps: int = 0
    scheduler: str = "cosine"
    gradient_checkpointing: bool = True
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU), bf16, fp32
    seed: int = 42


class ExampleDataset:
    """Examples as the Trainer's map-style dataset (a plain sequence of dicts)."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        example = self.examples[index]
        return {"input_ids": example.input_ids, "labels": example.labels}


def collate(pad_id: int):
    """Right-pad a batch: pad ids, attention mask 0 and labels -100 on padding (positions count from 0 per row)."""

    def collate_batch(items: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(item["input_ids"]) for item in items)
        ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            ids[row, :n] = torch.tensor(item["input_ids"])
            labels[row, :n] = torch.tensor(item["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate_batch


def training_arguments(recipe: Recipe, output_dir: Path):
    """TrainingArguments for the recipe. Built before the model, so a DeepSpeed ZeRO-3 launch can shard loading."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    bf16 = recipe.precision == "bf16" or (recipe.precision == "auto" and cuda)
    probe = TrainingArguments(output_dir=str(output_dir), report_to="none")
    processes = probe.world_size
    per_step = recipe.micro_batch_size * processes
    if recipe.batch_size % per_step:
        raise UserError(f"--batch-size {recipe.batch_size} is not a multiple of micro batch x processes "
                        f"({recipe.micro_batch_size} x {processes})")
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=recipe.micro_batch_size,
        gradient_accumulation_steps=recipe.batch_size // per_step,
        num_train_epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        adam_beta1=recipe.adam_beta1,
        adam_beta2=recipe.adam_beta2,
        lr_scheduler_type=recipe.scheduler,
        warmup_steps=recipe.warmup_steps,
        bf16=bf16,
        tf32=True if cuda and torch.cuda.get_device_capability()[0] >= 8 else None,
        gradient_checkpointing=recipe.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        dataloader_drop_last=True,
        dataloader_pin_memory=cuda,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss is logged as such (the filter logs it as 0), and then refused
        save_strategy="no",
        report_to="none",
        seed=recipe.seed,
        remove_unused_columns=False,
        disable_tqdm=False,
    )


def steps_per_run(examples: int, recipe: Recipe) -> int:
    """Optimizer steps the recipe takes: full global batches per epoch (incomplete ones dropped) x epochs."""
    import math

    return math.ceil((examples // recipe.batch_size) * recipe.epochs)


def training_model(model_path: Path, method, recipe: Recipe):
    """The model to train: built by the evaluation's own loader (same config, same attention), fp32 master weights.

    Left where transformers loads it: the Trainer (or DeepSpeed / FSDP under `accelerate launch`) places it.
    """
    from longeval.backends.hf import load_hf_model

    model = load_hf_model(model_path, method, recipe.max_length, dtype="float32", device=None)
    model.config.use_cache = False
    return model


def stop_on_non_finite_loss():
    """A TrainerCallback: a NaN or infinite loss ends training with a UserError (the checkpoint it would save is
    garbage; the caller removes the staging folder, so nothing is written)."""
    from transformers import TrainerCallback

    class StopOnNonFiniteLoss(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs) -> None:
            for key in ("loss", "grad_norm"):  # a NaN gradient norm: the weights are already NaN
                value = (logs or {}).get(key)
                if isinstance(value, int | float) and not math.isfinite(value):
                    raise UserError(f"the {key.replace('_', ' ')} became {value} at step {state.global_step}: "
                                    "training diverged and nothing was written (lower --lr)")

    return StopOnNonFiniteLoss()


def finetune(model_path: Path, method, examples: list[Example], recipe: Recipe, staging: Path,
             pad_id: int) -> dict[str, Any]:
    """Train and save weights into `staging` (all processes take part); returns the training summary."""
    from transformers import Trainer

    if len(examples) < recipe.batch_size:
        raise UserError(f"{len(examples)} usable conversations is fewer than one batch of {recipe.batch_size}: "
                        "lower --batch-size or give more data")
    args = training_arguments(recipe, staging)
    model = training_model(model_path, method, recipe)
    trainer = Trainer(model=model, args=args, train_dataset=ExampleDataset(examples), data_collator=collate(pad_id),
                      callbacks=[stop_on_non_finite_loss()])
    result = trainer.train()
    if not math.isfinite(result.training_loss):
        raise UserError(f"training diverged (mean loss {result.training_loss}); nothing was written: lower --lr")
    trainer.save_model(str(staging))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"steps": trainer.state.global_step, "losses": losses, "train_loss": result.training_loss,
            "processes": args.world_size, "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "bf16": bool(args.bf16), "is_main": trainer.is_world_process_zero()}


def write_checkpoint_files(staging: Path, base: Path, config: dict[str, Any], tokenizer, summary: dict[str, Any],
                           recipe: Recipe, data: str) -> None:
    """Main process: the extended config (as `extend` writes it), tokenizer, recipe record; trainer leftovers out."""
    from longeval.io import write_json_atomic

    saved = json.loads((staging / "config.json").read_text(encoding="utf-8"))
    config = dict(config)
    for key in ("dtype", "torch_dtype", "transformers_version"):
        if key in saved:
            config[key] = saved[key]
    config["longeval_finetune"] = {"recipe": asdict(recipe), "data": data, "base": base.resolve().name,
                                   "steps": summary["steps"], "train_loss": summary["train_loss"]}
    write_json_atomic(staging / "config.json", config, indent=2)
    tokenizer.model_max_length = max(int(getattr(tokenizer, "model_max_length", 0) or 0),
                                     int(config["max_position_embeddings"]))
    tokenizer.save_pretrained(str(staging))
    for name in ("training_args.bin",):
        (staging / name).unlink(missing_ok=True)
    for leftover in ("runs",):
        shutil.rmtree(staging / leftover, ignore_errors=True)
    write_json_atomic(staging / "longeval_finetune.json",
                      {"losses": summary["losses"], "steps": summary["steps"], "train_loss": summary["train_loss"],
                       "processes": summary["processes"],
                       "gradient_accumulation_steps": summary["gradient_accumulation_steps"],
                       "bf16": summary["bf16"], "recipe": asdict(recipe), "data": data}, indent=2)
