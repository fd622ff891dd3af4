"""Write a small ShareGPT-style conversations file from LongBench records, for the SmolLM2 fine-tuning example.

Real text, not the paper's data (the ShareGPT set is on the hub, unreachable here): each record becomes one
conversation, the user turn holding the start of the record's context and its question, the assistant turn its
first reference answer. Only for exercising `longeval finetune` end to end on a CPU.

    python benchmarks/sample_conversations.py OUT.jsonl RECORDS.jsonl [RECORDS.jsonl ...] [--chars 3000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("records", nargs="+")
    parser.add_argument("--chars", type=int, default=3000, help="context characters kept per record")
    args = parser.parse_args()
    lines = []
    for path in args.records:
        for raw in Path(path).read_text(encoding="utf-8").splitlines():
            if not raw.strip():
                continue
            record = json.loads(raw)
            question = f"{record['context'][:args.chars]}\n\nQuestion: {record['input']}"
            lines.append(json.dumps({"id": record["_id"], "conversations": [
                {"from": "human", "value": question}, {"from": "gpt", "value": record["answers"][0]}]}))
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} conversations to {args.out}")


if __name__ == "__main__":
    main()
