"""A random Llama (or another family's model) with a locally trained tokenizer, for tests and the demo (no
network, deterministic).

The model is untrained, so its outputs are meaningless; what matters is that it is a real checkpoint of its family
in the standard layout that transformers and vLLM both load, small enough to run on a CPU, with a short original
context (256 positions) so that context extension is exercised with prompts of a few hundred tokens. `family`
picks the model_type (see FAMILY_CONFIGS: each family's distinguishing features are kept, at a tiny size).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from longeval.io import usual_modes

BOS, EOS, UNK = "<s>", "</s>", "<unk>"

# A simple chat template in the spirit of Llama-2's [INST] wrapper, so chat wrapping has something to apply.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'assistant' %} {{ message['content'] }}{{ eos_token }}"
    "{% else %}<<SYS>>{{ message['content'] }}<</SYS>>{% endif %}"
    "{% endfor %}"
)


@dataclass(frozen=True)
class Preset:
    """Shape of a tiny model. head_dim is 32 because vLLM's CPU attention needs head_dim >= 32."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int  # target size of the trained tokenizer's vocabulary
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0
    # Larger than Llama's 0.02 so that random logits are well separated (greedy ties would make
    # engine-to-engine comparisons flaky).
    initializer_range: float = 0.1


PRESETS: dict[str, Preset] = {
    "tiny": Preset(hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=256, vocab_size=1024),
    # ~15M parameters, for benchmarks (the small training text caps the vocabulary near 1000 tokens anyway).
    "15m": Preset(hidden_size=384, num_layers=9, num_heads=12, num_kv_heads=4, intermediate_size=1024,
                  vocab_size=1024),
}

_MARKER = "longeval_tiny_model.json"

# Per family: the config keys that make the tiny model exercise what the family does differently (head_dim stays
# 32, the smallest vLLM's CPU attention takes).
FAMILY_CONFIGS: dict[str, dict] = {
    "llama": {},
    "mistral": {"sliding_window": None},
    "qwen2": {"use_sliding_window": False},  # q/k/v biases come with the family
    "qwen3": {},  # q/k RMSNorm comes with the family
    # Own attention scale, alternating sliding-window layers (64 < the prompts), logit soft-capping.
    "gemma2": {"query_pre_attn_scalar": 32, "sliding_window": 64, "attn_logit_softcapping": 50.0,
               "final_logit_softcapping": 30.0, "hidden_activation": "gelu_pytorch_tanh",
               "tie_word_embeddings": True},
    "phi3": {"original_max_position_embeddings": 256},
    # RoPE over half of each head (rotary dim 16 of 32), LayerNorm, no gating.
    "stablelm": {"partial_rotary_factor": 0.5},
}

# Training text for the tokenizer: English prose and question/answer phrasing like LongBench prompts, digits,
# punctuation, a little Chinese and code. Byte-level BPE encodes any text regardless; this only shapes the merges.
_CORPUS_LINES = [
    "Answer the question based on the given passages. Only give me the answer and do not output any other words.",
    "The following are given passages. Now, answer the question based on the passages.",
    "You are given a story, which can be either a novel or a movie script, and a question.",
    "Answer the question as concisely as you can, using a single phrase if possible.",
    "Please complete the code given below. Summarize the dialogue into a few short sentences.",
    "You are given several news passages. Write a one-page summary of all news.",
    "Here are some examples of questions and their types. Determine the type of the question below.",
    "Question: Who was the director of the film that won the award in the year after the war ended?",
    "Answer: The director was born in a small town near the river and moved to the capital city at twenty.",
    "Passage 1: The committee met on Tuesday to discuss the report on public transport and the annual budget.",
    "Passage 2: In 1987 the company opened its first factory, employing 350 workers from the region.",
    "Paragraph 12 describes the history of the university, founded in 1850 by a group of scientists.",
    "The meeting transcript records how the professor, the marketing team and the designer agreed on the plan.",
    "Summary: The government announced new rules for energy prices; critics said they would raise costs.",
    "def main(args):\n    for item in items:\n        if item is None:\n            return 0\n    print(result)\n",
    "import os\nimport sys\n\nclass Model(object):\n    def __init__(self, name):\n        self.name = name\n",
    "阅读以下文字并用中文简短回答：问题是什么？答案在段落中。请总结这个会议记录。",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 100 256 1000 2024 3.14 -7 42% $5 #1 @home (a) [b] {c} <d> 'e' \"f\" ;:!?",
]


def _corpus() -> list[str]:
    """Deterministic training text: the lines above plus their word-shuffled variants."""
    import random

    rng = random.Random(1234)
    lines = list(_CORPUS_LINES)
    words = " ".join(_CORPUS_LINES).split()
    for _ in range(400):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 30))))
    return lines


def _train_tokenizer(vocab_size: int):
    """A byte-level BPE with Llama's special tokens; BOS is prepended by the post-processor, as Llama does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, unk_token=UNK,
                                   model_max_length=1_000_000, padding_side="left", clean_up_tokenization_spaces=False)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _is_built(out_dir: Path, preset: str, seed: int, family: str = "llama") -> bool:
    marker = out_dir / _MARKER
    if not marker.is_file() or not (out_dir / "config.json").is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return info.get("preset") == preset and info.get("seed") == seed and info.get("family", "llama") == family


def build_tiny_model(out_dir: str | Path, *, preset: str = "tiny", seed: int = 0, family: str = "llama") -> Path:
    """Write (or reuse) a random checkpoint of `family` (default Llama) + tokenizer in out_dir and return out_dir.

    The build goes to a temporary sibling folder that is renamed into place, so concurrent builders (parallel
    pytest sessions) never see a half-written checkpoint.
    """
    if preset not in PRESETS:
        from longeval.errors import UserError

        raise UserError(f"unknown tiny-model preset {preset!r} (choose from {', '.join(PRESETS)})")
    if family not in FAMILY_CONFIGS:
        from longeval.errors import UserError

        raise UserError(f"unknown tiny-model family {family!r} (choose from {', '.join(FAMILY_CONFIGS)})")
    out_dir = Path(out_dir)
    if _is_built(out_dir, preset, seed, family):
        return out_dir

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = PRESETS[preset]
    tokenizer = _train_tokenizer(shape.vocab_size)
    if family != "llama":
        # Some families' tokenizer classes (Qwen2's) add their own pad token past the vocabulary when none is set.
        tokenizer.pad_token = EOS
    vocab_size = len(tokenizer)  # exactly: a random lm_head would otherwise emit ids the tokenizer cannot decode
    keys = dict(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.hidden_size // shape.num_heads,
        max_position_embeddings=shape.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
        initializer_range=shape.initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    keys.update(FAMILY_CONFIGS[family])
    config = AutoConfig.for_model(family, **keys)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    # Llama's RMSNorm weights start at 1; randomise them a little so every parameter is exercised.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.8, 1.2)
    model.generation_config.do_sample = False

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        info = {"preset": preset, "seed": seed, "family": family, "shape": asdict(shape),
                "parameters": sum(p.numel() for p in model.parameters())}
        (staging / _MARKER).write_text(json.dumps(info, indent=1) + "\n")
        usual_modes(staging)  # mkdtemp's folder is private, safetensors' weights 0600: others read this cache
        if out_dir.exists():
            if _is_built(out_dir, preset, seed, family):  # another process finished first
                return out_dir
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir
