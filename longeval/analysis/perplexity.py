"""Perplexity of token spans, on transformers or vLLM, with the method applied exactly as `run` applies it.

Both engines are built through the backends' own loaders (transformers: `load_hf_model`, EABF's query scale in
its attention function; vLLM: `VLLMBackend`, the method in hf_overrides and longeval's model wrapper), so a
perplexity belongs to the same model a LongBench run evaluates.

transformers: one forward pass of the base model gives the final hidden states; the loss is then taken chunk by
chunk of positions through the output head (logits in float32, log-softmax, the target's term summed in float64),
so logits never exist for the whole sequence at once: a 32k window of a 128k-vocabulary model needs one chunk's
logits (--chunk-mb), not 16 GB. vLLM: the prompt logprobs of each window (the actual token's, float32).

A cell (method, length) sums the negative log-likelihood over every predicted token of its spans (float64);
ppl = exp(total NLL / predicted tokens).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from longeval.analysis.ppl_text import Selection, windows

DEFAULT_CHUNK_BYTES = 256 * 1024 * 1024
VLLM_WINDOWS_PER_CALL = 8  # windows handed to vLLM together (it schedules them as its KV cache allows)

Span = tuple[list[int], int]  # (window token ids, index of the first scored token in it, >= 1)


@dataclass(frozen=True)
class CellResult:
    documents: int
    skipped: int
    tokens: int  # predicted (scored) tokens
    nll: float  # total negative log-likelihood, nats

    @property
    def ppl(self) -> float:
        return math.exp(self.nll / self.tokens)


class Scorer(Protocol):
    """Total NLL of the scored tokens of each span."""

    batch: int

    def nll(self, spans: Sequence[Span]) -> list[float]: ...

    def close(self) -> None: ...


class HFScorer:
    """transformers: base-model forward, then the output head over chunks of positions."""

    batch = 1

    def __init__(self, model: Any, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.model = model
        self.head = self.model.get_output_embeddings()
        # Gemma-2 soft-caps its final logits (its CausalLM forward does it after the head): so must the loss.
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)
        vocab = int(self.head.weight.shape[0])
        # float32 logits, their log-softmax and the gather's temporaries.
        self.rows = max(1, chunk_bytes // (vocab * 4 * 3))

    @classmethod
    def load(cls, model_path: str | Path, method: Any, max_length: int, dtype: str = "auto", device: str = "auto",
             chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> HFScorer:
        """The checkpoint with the method applied, loaded as `run`'s transformers backend loads it."""
        from longeval.backends.hf import load_hf_model

        return cls(load_hf_model(model_path, method, max_length, dtype, device), chunk_bytes)

    def nll(self, spans: Sequence[Span]) -> list[float]:
        return [self._span_nll(ids, first) for ids, first in spans]

    def _span_nll(self, ids: list[int], first: int) -> float:
        import torch

        device = self.head.weight.device
        tokens = torch.tensor([ids], dtype=torch.long, device=device)
        positions = torch.arange(len(ids), device=device)[None]
        total = 0.0
        with torch.inference_mode():
            hidden = self.model.base_model(input_ids=tokens, position_ids=positions, use_cache=False)[0][0]
            # Position p predicts token p + 1: positions first-1 .. n-2 score tokens first .. n-1.
            for start in range(first - 1, len(ids) - 1, self.rows):
                stop = min(start + self.rows, len(ids) - 1)
                logits = self.head(hidden[start:stop]).float()
                if self.softcap:
                    logits = torch.tanh(logits / self.softcap) * self.softcap
                logprobs = torch.log_softmax(logits, dim=-1)
                picked = logprobs.gather(1, tokens[0, start + 1:stop + 1, None])
                total -= float(picked.double().sum())
        return total

    def close(self) -> None:
        import torch

        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class VLLMScorer:
    """vLLM: the prompt logprobs of each window; one engine (of the longest length) serves every length."""

    batch = VLLM_WINDOWS_PER_CALL

    def __init__(self, model_path: str | Path, method: Any, max_length: int, dtype: str = "auto",
                 engine_options: dict[str, Any] | None = None) -> None:
        from longeval.backends.vllm import VLLMBackend

        # max_length sets the method's RoPE as for `run` (dynamic-ntk's base); one more position for the one
        # token vLLM generates after each prompt.
        self.backend = VLLMBackend(model_path, method, max_length=max_length, max_model_len=max_length + 1,
                                   dtype=dtype, **(engine_options or {}))

    def nll(self, spans: Sequence[Span]) -> list[float]:
        scores = self.backend.prompt_logprobs([ids for ids, _ in spans])
        # scores[i] is the logprob of token i + 1.
        return [-math.fsum(values[first - 1:]) for (_, first), values in zip(spans, scores, strict=True)]

    def close(self) -> None:
        self.backend.close()


def make_scorer(backend: str, model_path: str | Path, method: Any, max_length: int, dtype: str, device: str,
                chunk_bytes: int) -> Scorer:
    if backend == "vllm":
        return VLLMScorer(model_path, method, max_length, dtype)
    return HFScorer.load(model_path, method, max_length, dtype, device, chunk_bytes)


def cell_spans(selection: Selection, stride: int | None) -> Iterator[Span]:
    """Every scored span of a length's documents, in order (windows of each document, see ppl_text.windows)."""
    length = selection.length
    for ids in selection.documents:
        document = ids if stride is not None else ids[:length]
        for start, end, first in windows(len(document), length, stride):
            yield document[start:end], first - start


def predicted_tokens(selection: Selection, stride: int | None) -> int:
    """Tokens a cell scores: L - 1 per document, or every token but the first with a stride."""
    if stride is None:
        return len(selection.documents) * (selection.length - 1)
    return sum(len(ids) - 1 for ids in selection.documents)


def score_cell(scorer: Scorer, selection: Selection, stride: int | None, bar: Any = None) -> CellResult:
    """Total NLL and predicted tokens of one (method, length) cell; `bar` (tqdm) advances by scored tokens."""
    nll, tokens = 0.0, 0
    batch: list[Span] = []

    def flush() -> None:
        nonlocal nll, tokens
        counts = [len(ids) - first for ids, first in batch]
        nll += math.fsum(scorer.nll(batch))
        tokens += sum(counts)
        if bar is not None:
            bar.update(sum(counts))
        batch.clear()

    for span in cell_spans(selection, stride):
        batch.append(span)
        if len(batch) >= scorer.batch:
            flush()
    if batch:
        flush()
    return CellResult(documents=len(selection.documents), skipped=selection.skipped, tokens=tokens, nll=nll)
