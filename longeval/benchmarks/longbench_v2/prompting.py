"""LongBench v2 prompts exactly as the official pred.py builds them.

1. The template's placeholders are replaced in pred.py's order by the stripped fields: $DOC$ (the context, or for
   RAG the retrieved chunks), $Q$, $C_A$..$C_D$, and for the CoT answer pass $COT$ (the stripped reasoning). The
   order is kept because text put in by one replacement is seen by the later ones, as in pred.py.
2. The filled prompt is tokenised once, with special tokens (`tokenizer.encode`); longer than max_length, it keeps
   ids[:max_length//2] + ids[-max_length//2:] (Python's floor division: for an odd max_length the tail gets the
   extra id) and decodes that one list with skip_special_tokens=True.
3. The text goes to the model as one user chat message: the official server (vLLM's chat completions) renders the
   model's chat template with the generation prompt and tokenises it without adding special tokens. Wrapper
   `none` (or `llama2`) sends the text as a completion prompt instead, tokenised with special tokens.
"""

from __future__ import annotations

from typing import Any

from longeval.errors import UserError
from longeval.prompts import Prompt, wrap_chat

# Chunk header of the RAG context (pred.py), numbered from 1 in c_idx order.
RAG_CHUNK = "Retrieved chunk {number}: {content}"


def rag_context(item: dict[str, Any], top_n: int) -> str:
    """The first `top_n` retrieved chunks (retrieval order), sorted by c_idx (a stable sort), joined by blank lines."""
    chosen = sorted(item["retrieved_context"][:top_n], key=lambda chunk: chunk["c_idx"])
    return "\n\n".join(RAG_CHUNK.format(number=i + 1, content=chunk["content"]) for i, chunk in enumerate(chosen))


def fill(template: str, item: dict[str, Any], context: str | None, cot: str | None = None) -> str:
    """pred.py's chain of str.replace calls. `context` may be None only for a template without $DOC$ (the CoT
    answer pass), so a record's long context is not read for nothing."""
    if "$DOC$" in template:
        if context is None:
            raise ValueError("this template needs the context ($DOC$)")
        template = template.replace("$DOC$", context.strip())
    prompt = template.replace("$Q$", item["question"].strip())
    for letter in "ABCD":
        prompt = prompt.replace(f"$C_{letter}$", item[f"choice_{letter}"].strip())
    if cot is not None:
        prompt = prompt.replace("$COT$", cot)
    return prompt


def truncate_ids(ids: list[int], max_length: int) -> list[int]:
    """pred.py's middle truncation on ids: `ids[:max_len//2] + ids[-max_len//2:]` when longer than max_len."""
    if len(ids) <= max_length:
        return ids
    return ids[:max_length // 2] + ids[-max_length // 2:]


def truncate_text(text: str, tokenizer: Any, max_length: int) -> tuple[str, bool, int]:
    """(text as pred.py sends it, whether it was truncated, its token count before truncation).

    The filled prompt is tokenised exactly once here; the truncated ids are decoded in one call (as pred.py does:
    a character split at the junction decodes as the two halves together decode it)."""
    ids = tokenizer.encode(text)
    if len(ids) <= max_length:
        return text, False, len(ids)
    kept = truncate_ids(ids, max_length)
    return tokenizer.decode(kept, skip_special_tokens=True), True, len(ids)


def final_ids(text: str, tokenizer: Any, wrapper: str) -> tuple[str, list[int]]:
    """(the string the engine sees, its ids): the chat template as the official server applies it, or the bare
    text (`none`) / the [INST] wrapper (`llama2`) tokenised with special tokens as a completion prompt would be."""
    if wrapper == "hf":
        chat = wrap_chat(text, tokenizer, "hf")
        return chat, list(tokenizer(chat, add_special_tokens=False, truncation=False).input_ids)
    wrapped = wrap_chat(text, tokenizer, wrapper)
    return wrapped, list(tokenizer(wrapped, truncation=False).input_ids)


def build(prompt_id: str, task_name: str, filled: str, tokenizer: Any, max_length: int, wrapper: str) -> Prompt:
    """The Prompt of one filled template: truncation, then the chat message. Prompt.text is the user message
    (what `longeval prompts` shows); Prompt.token_ids what the engine is given."""
    if max_length < 2:
        raise UserError(f"max length must be at least 2 tokens, got {max_length}")
    text, truncated, _ = truncate_text(filled, tokenizer, max_length)
    _, ids = final_ids(text, tokenizer, wrapper)
    return Prompt(id=prompt_id, task=task_name, text=text, token_ids=ids, truncated=truncated)


def first_prompt(task_name: str, template: str, item: dict[str, Any], mode: str, tokenizer: Any, max_length: int,
                 wrapper: str, rag_top_n: int = 0) -> Prompt:
    """The first (for 0-shot, no-context and RAG the only) prompt of a record in one of the modes."""
    context: str | None
    if mode == "rag":
        context = rag_context(item, rag_top_n)
    elif mode == "nocontext":
        context = None if "$DOC$" not in template else item["context"]
    else:
        context = item["context"]
    return build(item["_id"], task_name, fill(template, item, context), tokenizer, max_length, wrapper)


def answer_prompt(task_name: str, template: str, item: dict[str, Any], reasoning: str, tokenizer: Any,
                  max_length: int, wrapper: str) -> Prompt:
    """The CoT answer pass: the answer template with $COT$ = the stripped reasoning output (pred.py truncates this
    prompt too, with the same rule)."""
    context = item.get("context") if "$DOC$" in template else None
    return build(item["_id"], task_name, fill(template, item, context, cot=reasoning), tokenizer, max_length,
                 wrapper)
