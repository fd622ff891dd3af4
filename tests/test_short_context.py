"""`longeval report --short-context`: LongBench-E 0-4k scores of a base and extended runs and their differences."""

from __future__ import annotations

import json
from pathlib import Path

from longeval.cli import main


def e_result(folder: Path, qasper: float, trec: float, passkey: float | None = None) -> Path:
    """A folder with an official LongBench-E result.json (scores per length bucket), passkey score if given."""
    folder.mkdir(parents=True)
    result: dict = {"qasper_e": {"0-4k": qasper, "4-8k": 11.0, "8k+": 5.0},
                    "trec_e": {"0-4k": trec, "4-8k": 40.0, "8k+": 30.0}}
    if passkey is not None:
        result["passkey"] = passkey
    (folder / "result.json").write_text(json.dumps(result))
    return folder


def rows(out: str) -> dict[str, list[str]]:
    cells = ([c.strip() for c in line.strip().strip("|").split(" | ")] for line in out.splitlines()
             if line.startswith("| ") and not line.startswith("| Run") and not line.startswith("| ---"))
    return {row[0]: row for row in cells}


def test_short_context_view_shows_0_4k_scores_and_differences_to_the_base(tmp_path: Path, capsys) -> None:
    base = e_result(tmp_path / "base", qasper=30.0, trec=60.0, passkey=100.0)
    eabf = e_result(tmp_path / "eabf16k", qasper=28.5, trec=61.0, passkey=95.0)
    pi = e_result(tmp_path / "pi16k", qasper=20.0, trec=55.25)
    code = main(["report", str(eabf), str(base), str(pi), "--short-context", "--baseline", "base",
                 "--format", "md", "--out", "-"])
    out = capsys.readouterr().out
    assert code == 0 and "Short-context check" in out
    header = next(line for line in out.splitlines() if line.startswith("| Run"))
    columns = [c.strip() for c in header.strip().strip("|").split(" | ")]
    table = rows(out)
    assert set(table) == {"eabf16k", "base", "pi16k", "eabf16k − base", "pi16k − base"}
    qasper, trec, passkey = columns.index("QAPR"), columns.index("TREC"), columns.index("passkey")
    macro = next(i for i, c in enumerate(columns) if c.startswith("macro"))
    assert table["base"][qasper] == "30.00" and table["base"][trec] == "60.00"  # the 0-4k bucket, not 4-8k/8k+
    assert table["base"][passkey] == "100.00" and table["pi16k"][passkey] == "—"
    assert (table["eabf16k − base"][qasper], table["eabf16k − base"][trec]) == ("-1.50", "1.00")
    assert table["eabf16k − base"][passkey] == "-5.00"
    assert table["eabf16k − base"][macro] == f"{(-1.5 + 1.0 - 5.0) / 3:.2f}"
    assert (table["pi16k − base"][qasper], table["pi16k − base"][passkey]) == ("-10.00", "—")
    assert table["pi16k − base"][macro].startswith(f"{(-10.0 - 4.75) / 2:.2f}")


def test_short_context_view_needs_longbench_e_runs(tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "result.json").write_text(json.dumps({"trec": 50.0}))
    assert main(["report", str(plain), "--short-context", "--format", "md", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert "no run has LongBench-E scores in the 0-4k bucket or passkey scores" in err
    assert len(err.strip().splitlines()) == 1
