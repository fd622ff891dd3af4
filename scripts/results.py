#!/usr/bin/env python3
"""Regenerate results/ (the leaderboard) with `longeval report`, from the real LongBench prediction sets carried
in tests/fixtures/real-preds and the paper's published rows; or, with --check, compare a regeneration with the
committed files (tests/test_results.py does this in CI).

    python scripts/results.py            # rewrite results/leaderboard.{md,csv,html} and the plots
    python scripts/results.py --check    # exit 1, naming each file, when results/ differs from a regeneration

Tables are compared byte for byte. PNG pixels depend on the matplotlib and FreeType releases installed, so the
plots (and the copies the HTML page embeds) are compared by being valid PNG images of the same size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import struct
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PREDICTION_SETS = ROOT / "tests" / "fixtures" / "real-preds"
MODELS = ("llama2-7b", "llama2-7b-chat", "llama3-8b", "llama3-8b-quest-128")
# The paper's 12 tasks, so that every row's averages are over the same tasks as the published rows'.
REPORT_OPTIONS = ["--tasks", "paper12", "--reference", "paper,paper-lengths", "--plot", "--baseline",
                  "llama2-7b-chat"]
TABLES = ("leaderboard.md", "leaderboard.csv")
PAGE = "leaderboard.html"
PLOTS = ("macro_vs_length.png", "delta_to_baseline.png")
EMBEDDED_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def regenerate(out: Path) -> list[Path]:
    """Write the leaderboard files into `out` (created if needed); returns the files written."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # this checkout's longeval, installed or not
    from longeval.cli import main

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for model in MODELS:
            with tarfile.open(PREDICTION_SETS / f"{model}.tar.xz") as archive:
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(runs, filter="data")
                else:
                    archive.extractall(runs)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["report", *(str(runs / m) for m in MODELS), *REPORT_OPTIONS, "--out", str(out)])
        if code != 0:
            raise SystemExit(f"longeval report failed: {err.getvalue().strip()}")
    return [out / name for name in (*TABLES, PAGE, *PLOTS)]


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG image, or None when `data` is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or not data.endswith(b"IEND\xaeB`\x82"):
        return None
    return struct.unpack(">II", data[16:24])


def differences(committed: Path, fresh: Path) -> list[str]:
    """One line per file of `committed` that differs from the regeneration in `fresh`."""
    out: list[str] = []
    for name in (*TABLES, PAGE, *PLOTS):
        path = committed / name
        if not path.is_file():
            out.append(f"{path}: missing")
            continue
        old, new = path.read_bytes(), (fresh / name).read_bytes()
        if name in TABLES and old != new:
            out.append(f"{path}: differs from a regeneration")
        elif name == PAGE:
            pages = [EMBEDDED_PNG.sub("data:image/png;base64,...", data.decode("utf-8")) for data in (old, new)]
            images = [[png_size(_b64(m)) for m in EMBEDDED_PNG.findall(data.decode("utf-8"))] for data in (old, new)]
            if pages[0] != pages[1] or images[0] != images[1] or None in images[0]:
                out.append(f"{path}: differs from a regeneration")
        elif name in PLOTS and (png_size(old) is None or png_size(old) != png_size(new)):
            out.append(f"{path}: not a valid PNG of the regenerated size {png_size(new)}")
    return out


def _b64(data_uri: str) -> bytes:
    import base64

    return base64.b64decode(data_uri.split(",", 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare a regeneration with results/; write nothing")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the folder to write or check (default: results/)")
    args = parser.parse_args(argv)
    if not args.check:
        for path in regenerate(args.results):
            print(f"wrote {path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        regenerate(Path(tmp))
        found = differences(args.results, Path(tmp))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print("regenerate with: python scripts/results.py", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
