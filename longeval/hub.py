"""--model as a local folder or a Hugging Face hub id (`org/name[@revision]`), resolved to a local snapshot folder.

Hub ids go through huggingface_hub's own cache (HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE are honoured by it), so
a model downloaded once is reused, and the commit the revision resolved to is recorded with the run: a branch like
`main` moves, the commit does not.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from longeval.errors import UserError

# org/name, optionally @revision (a branch, tag or commit); hub names are letters, digits, '-', '_' and '.'.
HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
# What a run or a server reads from a checkpoint: config, tokenizer, weights. Other files (other weight
# formats, original/ checkpoints, images) are not downloaded.
CHECKPOINT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja", "*.gguf", "*.py"]


@dataclass(frozen=True)
class ResolvedModel:
    """A checkpoint folder on this machine and where it came from."""

    path: Path
    # Display name: the folder's name, or the hub repository's name (a snapshot folder is named by its commit).
    name: str
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None

    def provenance(self) -> dict[str, str]:
        """What run.json records about a hub model (nothing for a local folder)."""
        if self.repo_id is None:
            return {}
        return {"repo_id": self.repo_id, "revision": self.revision or "main", "commit": self.commit or ""}


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (1/true/yes/on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(spec: str) -> ResolvedModel:
    """A local folder as given; `org/name[@revision]` (when no such local folder exists) from the hub cache.

    Offline (HF_HUB_OFFLINE=1) and not cached is refused at once, with the command that would fetch it.
    """
    local = Path(spec).expanduser()
    match = HUB_ID.match(spec)
    if local.exists() or match is None or spec.startswith((".", "/", "~")):
        return ResolvedModel(path=local, name=local.resolve().name)
    repo_id, revision = match["repo"], match["revision"]
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        raise UserError(f"--model {spec} is not a local folder, and hub models need huggingface_hub, which is not "
                        "installed: pip install 'longeval[hf]'") from None

    offline = hub_offline()
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=CHECKPOINT_FILES,
                                        local_files_only=offline))
    except LocalEntryNotFoundError:
        if offline:
            raise UserError(f"model {where} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: fetch it "
                            f"where the hub is reachable (`hf download {repo_id}"
                            f"{' --revision ' + revision if revision else ''}`) with the same HF_HOME; nor is there "
                            f"a local folder {spec}") from None
        raise UserError(f"model {where} is neither in the Hugging Face cache nor reachable on the hub "
                        f"(no connection?); nor is there a local folder {spec}") from None
    except Exception as exc:  # noqa: BLE001 - not found, gated, bad revision, HTTP: one line either way
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot fetch model {where} from the Hugging Face hub ({reason})") from None
    # The cache keeps one folder per commit: snapshots/<commit sha>.
    return ResolvedModel(path=folder, name=repo_id.split("/")[1], repo_id=repo_id, revision=revision,
                         commit=folder.name)
