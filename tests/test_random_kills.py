"""Killed at random write points (seeded, bounded), a run resumes to the folder an uninterrupted run makes.

Each kill is a real abrupt death: a child process whose os.write, on the run folder's files, writes a random part
of its bytes and then calls os._exit (no finally, no cleanup, as kill -9 mid-write). The echo engine stands in for
a model, so no engine is needed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

from test_disk_full import assert_equal_runs, whole_run
from test_run_folder import echo_args
from test_runner import make_data

from longeval.cli import main

ARGS = ("--run-name", "r", "--batch-size", "1")

CHILD = textwrap.dedent("""
    import os, sys
    under, kill_at, keep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    real_write, calls = os.write, [0]

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(under):
            calls[0] += 1
            if calls[0] == kill_at:
                real_write(fd, bytes(data)[: int(len(data) * keep)])
                os._exit(137)
        return real_write(fd, data)

    os.write = write
    from longeval.cli import main
    sys.exit(main(sys.argv[4:]))
""")


def test_a_run_killed_at_random_write_points_resumes_to_the_uninterrupted_run(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=6)
    whole = whole_run(tmp_path, echo_model, data)
    out = tmp_path / "runs"
    argv = echo_args(echo_model, data, out, *ARGS)
    rng = random.Random(23)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(os.getcwd()), *sys.path])}
    kills = 0
    for _ in range(3):
        kill_at, keep = rng.randint(1, 6), rng.random()  # appends: ledger then pred, per prediction
        child = subprocess.run([sys.executable, "-c", CHILD, str(out), str(kill_at), str(keep), *argv],
                               capture_output=True, text=True, env=env, timeout=300)
        assert child.returncode in (0, 137), child.stderr
        kills += child.returncode == 137
    assert kills >= 2  # the faults really struck
    assert main(argv) == 0
    assert_equal_runs(out / "r", whole)
