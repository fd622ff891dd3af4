"""Engine reuse in a length sweep: one engine for all lengths vs one engine per length.

Runs the same 3-length sweep of one method on the tiny model twice, each in a fresh process (so `import vllm` is
paid by both): "per length" calls `longeval.runner.run` once per length, each run starting its own engine (what
`longeval run --max-length a,b,c` did before engines were shared); "shared" calls `run_sweep`, which starts one
engine for the longest run and hands it to the others. Reports wall time, engine starts and their seconds (from
run.json `timing.engine_load`), and checks the predictions of both are identical.

usage: python benchmarks/sweep_engine_reuse.py [--backend vllm] [--method yarn:factor=4] [--lengths 200,400,800]
                                               [--records 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(mode: str, model: str, data: str, out: str, args: argparse.Namespace) -> None:
    from longeval.runner import RunRequest, run, run_sweep

    requests = [RunRequest(model=model, tasks="hotpotqa,trec", data=data, out=Path(out), method=args.method,
                           max_length=int(n), backend=args.backend, run_name=f"r_{n}", progress=False)
                for n in args.lengths.split(",")]
    started = time.perf_counter()
    if mode == "shared":
        run_sweep(requests, on_event=lambda _line: None)
    else:
        for request in requests:
            run(request, on_event=lambda _line: None)
    print(json.dumps({"wall_s": time.perf_counter() - started}))


def preds(folder: Path) -> dict[str, str]:
    return {f"{p.parent.parent.name}/{p.name}": p.read_text(encoding="utf-8")
            for p in sorted(folder.glob("*/pred/*.jsonl"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="vllm")
    parser.add_argument("--method", default="yarn:factor=4")
    parser.add_argument("--lengths", default="200,400,800")
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "MODEL", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args)
        return

    from longeval.demo import make_demo_data
    from longeval.tinymodel import build_tiny_model

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    work = Path(tempfile.mkdtemp(prefix="longeval-sweep-"))
    model = build_tiny_model(work / "tiny", preset="tiny", seed=0)
    data = make_demo_data(work / "data", records=args.records)
    rows = {}
    for mode in ("per-length", "shared"):
        out = work / mode
        command = [sys.executable, __file__, "--backend", args.backend, "--method", args.method, "--lengths",
                   args.lengths, "--child", mode, str(model), str(data), str(out)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        wall = json.loads(done.stdout.strip().splitlines()[-1])["wall_s"]
        infos = [json.loads(p.read_text()) for p in sorted(out.glob("*/run.json"))]
        loads = [i["timing"].get("engine_load", 0.0) for i in infos]
        rows[mode] = {"wall": wall, "starts": sum(1 for i in infos if not i["backend"]["engine_reused"]),
                      "engine_load": sum(loads), "preds": preds(out)}
    same = rows["per-length"]["preds"] == rows["shared"]["preds"]
    print(f"{args.backend}, method {args.method}, lengths {args.lengths}, {args.records} records x 2 tasks")
    print(f"{'mode':<12}{'wall s':>9}{'engine starts':>15}{'engine start s':>16}")
    for mode, row in rows.items():
        print(f"{mode:<12}{row['wall']:>9.1f}{row['starts']:>15}{row['engine_load']:>16.1f}")
    print(f"speed-up {rows['per-length']['wall'] / rows['shared']['wall']:.2f}x; predictions identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
