"""The transformers backend: greedy decoding of token-id prompts with a context-extension method applied.

Slower than vLLM, but it is the reference implementation of the methods (EABF through transformers' attention
interface) and needs no extra engine. Decoding is an explicit greedy loop, equivalent to the official pred.py's
`model.generate(num_beams=1, do_sample=False, ...)`: argmax per step, EOS and the task's extra stop ids end a
sequence (and are kept in its ids), and those ids are banned for the first `min_new_tokens` steps (samsum's
`min_length = context_length + 1`). Prompts are batched with left padding, an attention mask and position ids
counted from each prompt's first real token, so batched output equals one-at-a-time output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from longeval.backends.base import Generation, GenerationParams, canonical_dtype, require_weights
from longeval.errors import UserError
from longeval.methods import Method, method_from_config


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise UserError(f"--device {device}: not a device name (auto, cpu, cuda, cuda:1, mps, ...)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available to this torch ({torch.__version__}); "
                        "use --device cpu or auto")
    if kind == "cuda" and torch.device(device).index is not None and torch.device(device).index >= \
            torch.cuda.device_count():
        raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available on this machine; use --device cpu or auto")
    return device


def resolve_dtype(dtype: str, device: str):
    """"auto" is float32 on CPU (exact comparisons) and bfloat16 on GPU (the paper's setting)."""
    import torch

    dtype = canonical_dtype(dtype)
    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    return getattr(torch, dtype)


def extended_config(model_path: str | Path, method: Method | None = None, max_length: int | None = None):
    """The checkpoint's transformers config with the method's overrides applied, and the method used.

    Without a method, the one the checkpoint carries is used (an extended checkpoint, or plain RoPE). Without a
    max length, the method's own covered length (or the checkpoint's max positions if unbounded) is used.
    """
    from transformers import AutoConfig

    from longeval.methods.config import read_config
    from longeval.methods.hf import register
    from longeval.methods.length import default_length

    register()
    try:
        config = AutoConfig.from_pretrained(str(model_path))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read a model config: {exc}".splitlines()[0], path=model_path) from None
    # The method logic reads config.json as written (transformers rewrites some RoPE settings when it builds the
    # config object, e.g. a Phi-3 "yarn" becomes "longrope"), as the runner and the vLLM backend do.
    raw = read_config(model_path) if (Path(model_path) / "config.json").is_file() else config.to_dict()
    method = method or method_from_config(raw)
    if max_length is None:
        max_length = default_length(method, raw)
    for key, value in method.config_overrides(raw, max_length).items():
        setattr(config, key, value)
    return config, method


def load_hf_model(model_path: str | Path, method: Method | None = None, max_length: int | None = None,
                  dtype: str = "auto", device: str | None = "auto"):
    """A transformers causal LM with the method applied (EABF through its attention function), in eval mode.

    device None leaves the weights where transformers loaded them: a training launcher (DeepSpeed ZeRO-3, FSDP)
    places or shards them itself.
    """
    from transformers import AutoModelForCausalLM

    from longeval.methods.hf import attention_implementation

    config, method = extended_config(model_path, method, max_length)
    require_weights(model_path)
    target = resolve_device(device) if device is not None else None
    attention = attention_implementation(config)
    model = AutoModelForCausalLM.from_pretrained(str(model_path), config=config,
                                                 dtype=resolve_dtype(dtype, target or "cpu"),
                                                 attn_implementation=attention)
    # transformers types PreTrainedModel.to through a decorator mypy reads as unbound; the call is the plain one.
    return (model.to(target) if target is not None else model).eval()  # type: ignore[arg-type]


def pad_id_within(candidates: tuple[int | None, ...], vocab_size: int) -> int:
    """The id left padding uses: the tokenizer's pad (else EOS) id when the model's embedding has it, else 0.

    Padded positions are masked, so any id the model has will do; one past the embedding (a tokenizer class that
    adds a pad token after the vocabulary, as Qwen2's does) would be an IndexError in the embedding lookup.
    """
    return next((i for i in candidates if i is not None and 0 <= i < vocab_size), 0)


class HFBackend:
    """Backend protocol over transformers (see backends/base.py)."""

    name = "hf"
    local_engine = True
    accepted_options = frozenset({"data_parallel_size"})

    def __init__(self, model_path: str | Path, method: Method | None = None, max_length: int | None = None,
                 dtype: str = "auto", device: str = "auto", batch_size: int = 8) -> None:
        from transformers import AutoTokenizer

        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        self.model = load_hf_model(model_path, method, max_length, dtype, self.device)
        self.method = method or method_from_config(self.model.config.to_dict())
        self.dtype = str(self.model.dtype).removeprefix("torch.")
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self.eos_ids = self._eos_ids()
        self.pad_id = pad_id_within((self.tokenizer.pad_token_id, self.tokenizer.eos_token_id),
                                    self.model.get_input_embeddings().num_embeddings)

    def _eos_ids(self) -> tuple[int, ...]:
        ids: list[int] = []
        for source in (self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            for value in source if isinstance(source, list | tuple) else [source]:
                if value is not None and value not in ids:
                    ids.append(int(value))
        return tuple(ids)

    def versions(self) -> dict[str, str]:
        import torch
        import transformers

        return {"transformers": transformers.__version__, "torch": torch.__version__}

    def close(self) -> None:
        import torch

        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _decode(self, ids: list[int]) -> str:
        """The text of generated ids (pred.py's decode with skip_special_tokens): one sequence, one string."""
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        assert isinstance(text, str)
        return text

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """Greedy-decode every prompt; batches hold prompts of similar length (sorted longest first)."""
        for index, prompt in enumerate(prompts):
            if len(prompt) == 0:
                raise UserError(f"prompt {index} is empty")
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for index, generation in zip(chunk, self._generate_batch([prompts[i] for i in chunk], params),
                                         strict=True):
                results[index] = generation
        return [r for r in results if r is not None]

    def _generate_batch(self, prompts: list[Sequence[int]], params: GenerationParams) -> list[Generation]:
        import torch
        from transformers import DynamicCache

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
            attention_mask[row, width - len(prompt):] = 1
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        # Positions count real tokens only, so a left-padded prompt sees the same positions as alone.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        eos_ids = self.eos_ids if params.eos_token_ids is None else params.eos_token_ids
        stop_ids = torch.tensor(sorted(set(eos_ids) | set(params.stop_token_ids)), dtype=torch.long,
                                device=self.device)
        new_tokens: list[list[int]] = [[] for _ in prompts]
        finished = torch.zeros(len(prompts), dtype=torch.bool, device=self.device)
        cache = DynamicCache(config=self.model.config)
        step_ids, step_positions = input_ids, position_ids
        with torch.inference_mode():
            for step in range(params.max_new_tokens):
                out = self.model(input_ids=step_ids, attention_mask=attention_mask, position_ids=step_positions,
                                 past_key_values=cache, use_cache=True, logits_to_keep=1)
                logits = out.logits[:, -1, :].float()
                if step < params.min_new_tokens and len(stop_ids):
                    logits[:, stop_ids] = float("-inf")
                next_ids = logits.argmax(dim=-1)
                for row, token in enumerate(next_ids.tolist()):
                    if not finished[row]:
                        new_tokens[row].append(token)
                finished |= torch.isin(next_ids, stop_ids)
                if bool(finished.all()):
                    break
                step_ids = next_ids[:, None]
                step_positions = step_positions[:, -1:] + 1
                attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(prompts), 1))], dim=-1)
        return [Generation(token_ids=ids, text=self._decode(ids)) for ids in new_tokens]

