"""Prompts exactly as the official LongBench pred.py builds them: fill, middle truncation on tokens, chat wrapper.

Order matters and is the official one: the template is filled with str.format, the filled prompt is tokenised
WITH special tokens, and if it is longer than max_length the first and last int(max_length/2) tokens are decoded
(without special tokens) and concatenated as text; only then is the chat wrapper applied (never for trec, triviaqa,
samsum, lsht, lcc, repobench-p), and the final string is tokenised again. Those ids go to the engine unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longeval.backends.base import GenerationParams
from longeval.errors import UserError

if TYPE_CHECKING:
    from longeval.tasks import Task

CHAT_WRAPPERS = ("hf", "llama2", "none")
# How a log line names each wrapper (a bare "hf" reads like the transformers backend).
WRAPPER_LABELS = {"hf": "hf template", "llama2": "llama2 [INST]", "none": "none"}


@dataclass(frozen=True)
class Prompt:
    """One record's final prompt: the text an engine would see and the token ids it is actually given."""

    id: str
    task: str
    text: str
    token_ids: list[int]
    truncated: bool


def resolve_chat_wrapper(choice: str | None, tokenizer: Any) -> str:
    """'hf' when the tokenizer has a chat template, else 'none', unless the user chose one."""
    if choice is None or choice == "auto":
        return "hf" if getattr(tokenizer, "chat_template", None) else "none"
    if choice not in CHAT_WRAPPERS:
        raise UserError(f"unknown chat wrapper '{choice}' (choose from auto, {', '.join(CHAT_WRAPPERS)})")
    if choice == "hf" and not getattr(tokenizer, "chat_template", None):
        raise UserError("--chat-template hf: this tokenizer has no chat template (use llama2 or none)")
    return choice


def fill_template(task: Task, record: dict[str, Any]) -> str:
    """The official `dataset2prompt[task].format(**record)`."""
    return task.prompt.format(**record)


def truncate_middle(text: str, tokenizer: Any, max_length: int) -> tuple[str, list[int] | None]:
    """Keep the first and last int(max_length/2) tokens when the prompt has more than max_length (pred.py).

    Returns the (possibly truncated) text, and its token ids when it was not truncated (None otherwise), so a
    prompt that goes to the engine unwrapped and untruncated is not tokenised twice.
    """
    ids = tokenizer(text, truncation=False).input_ids
    if len(ids) <= max_length:
        return text, list(ids)
    half = int(max_length / 2)
    head = tokenizer.decode(ids[:half], skip_special_tokens=True)
    tail = tokenizer.decode(ids[-half:], skip_special_tokens=True)
    return head + tail, None


def wrap_chat(text: str, tokenizer: Any, wrapper: str) -> str:
    """Apply the chat wrapper: llama2 is the official `[INST]{prompt}[/INST]`; hf the tokenizer's own template."""
    if wrapper == "none":
        return text
    if wrapper == "llama2":
        return f"[INST]{text}[/INST]"
    if wrapper == "hf":
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    raise UserError(f"unknown chat wrapper '{wrapper}' (choose from {', '.join(CHAT_WRAPPERS)})")


def encode_final(text: str, tokenizer: Any, wrapper: str) -> list[int]:
    """Token ids of the final prompt: pred.py's `tokenizer(prompt)` with special tokens.

    Deliberate fix: when an `hf` chat template already writes the BOS token as text (Llama 3 style), the
    tokenizer's own BOS is not added again; a doubled BOS is a known source of degraded chat-model scores.
    The official code never used such templates, so no official number depends on this.
    """
    bos = getattr(tokenizer, "bos_token", None)
    add_special = not (wrapper == "hf" and bos and text.startswith(bos))
    return list(tokenizer(text, truncation=False, add_special_tokens=add_special).input_ids)


def build_prompt(task: Task, record: dict[str, Any], tokenizer: Any, max_length: int, wrapper: str) -> Prompt:
    """The whole official procedure for one record."""
    if max_length < 2:
        raise UserError(f"max length must be at least 2 tokens, got {max_length}")
    text, ids = truncate_middle(fill_template(task, record), tokenizer, max_length)
    truncated = ids is None
    if task.chat and wrapper != "none":
        text, ids = wrap_chat(text, tokenizer, wrapper), None
    if ids is None:  # pred.py tokenises the final string again (with special tokens)
        ids = encode_final(text, tokenizer, wrapper)
    return Prompt(id=record["_id"], task=task.name, text=text, token_ids=ids, truncated=truncated)


def wrapper_overhead(tokenizer: Any, wrapper: str) -> int:
    """Tokens the chat wrapper adds around a prompt (0 for 'none')."""
    if wrapper == "none":
        return 0
    bare = len(tokenizer("", truncation=False).input_ids)
    return max(0, len(encode_final(wrap_chat("", tokenizer, wrapper), tokenizer, wrapper)) - bare)


# Tokens by which re-tokenising a truncated prompt may exceed 2*int(max_length/2): a token split inside a
# multi-byte character decodes to U+FFFD and re-encodes as several tokens, and merges at the junction change.
JUNCTION_SLACK = 8


def prompt_budget(task: Task, tokenizer: Any, wrapper: str, context_window: int,
                  max_length: int | None) -> tuple[int, int]:
    """(max_length for the truncation, tokens the chat wrapper adds) for one task.

    Given --max-length it is used as is (the official model2maxlen role). Otherwise the context window minus the
    task's max new tokens, minus the wrapper's own tokens for chat tasks and JUNCTION_SLACK, so that prompt and
    answer always fit the window (an engine refuses a prompt that does not leave room for the answer).
    """
    overhead = wrapper_overhead(tokenizer, wrapper) if task.chat else 0
    if max_length is not None:
        return max_length, overhead
    return context_window - task.max_new_tokens - overhead - JUNCTION_SLACK, overhead


def generation_params(task: Task, tokenizer: Any) -> GenerationParams:
    """pred.py's greedy settings from the task's fields: a task with `stop` strings (samsum: "\\n") ends at EOS
    or the last token of each string (a list that replaces the model's own EOS ids, as pred.py's
    `eos_token_id=[eos, newline]` does); `min_new_tokens` (samsum: 1) bans those ids for the first tokens."""
    if task.stop:
        stops = tuple(tokenizer.encode(text, add_special_tokens=False)[-1] for text in task.stop)
        return GenerationParams(task.max_new_tokens, min_new_tokens=task.min_new_tokens,
                                eos_token_ids=(tokenizer.eos_token_id, *stops))
    return GenerationParams(task.max_new_tokens, min_new_tokens=task.min_new_tokens)


def load_tokenizer(path: str) -> Any:
    """The model's own tokenizer (no remote code); a folder without one is a UserError."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError("building prompts needs the model's tokenizer from transformers, which is not installed "
                        "(a light install scores, reports and checks only): pip install 'longeval[hf]'") from None

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a tokenizer here ({str(exc).splitlines()[0]})", path=path) from None
    # Long LongBench prompts are expected: silence the "sequence longer than model_max_length" warning.
    tokenizer.model_max_length = 1 << 40
    return tokenizer
