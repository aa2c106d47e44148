"""README's first command itself, `papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 64`, run `--runs` times (its
results file goes to a temporary folder): wall time from start to exit, and where it went, from papermill's record of
each cell's duration, grouped as benchmarks/README.md's table groups them. With `--against COMMIT`, the runs alternate with that
commit's code (checked out in a temporary git worktree, byte-compiled, and put first on PYTHONPATH) in the order
AB BA AB ..., so that neither code always runs first; this machine's speed drifts too much from hour to hour for any
other comparison. If the script is killed, `git worktree prune` forgets the worktree it left. Prints figures; asserts
nothing.

    python benchmarks/bench_main_job.py [--runs 3] [--against COMMIT]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the notebook's code cells, grouped by a string their source contains
GROUPS = [
    (
        "parameters and check (imports torch, the library, scikit-learn)",
        "from rsr_nb.cmirnet.pipelines import DSRSIDExp",
    ),
    ("rendering the twin", "data = load_dsrsid(cfg)"),
    ("training and scoring", "run = run_dsrsid(cfg, data)"),
    ("figure: per-class AP", "class_bars("),
    ("figure: top-5 grid", "retrieval_grid("),
    ("figure: training curves", "plot_training_curves("),
]
OUTSIDE = "outside the cells (papermill, kernel start and exit)"


def run_once(repo: Path, out: Path) -> dict:
    "One papermill run of `repo`'s notebook with `repo`'s code; wall seconds and seconds per group."
    path = os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "papermill", str(repo / "nbs" / "run_dsrsid.ipynb"), str(out / "out.ipynb")]
    command += ["-p", "d_v", "64", "-p", "out_dir", str(out), "--cwd", str(repo / "nbs"), "--log-level", "WARNING"]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"papermill failed for {repo}:\n{done.stderr[-3000:]}")
    cells = [c for c in json.loads((out / "out.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    times = {name: 0.0 for name, _ in GROUPS}
    times["other cells"] = 0.0
    for c in cells:
        src, took = "".join(c["source"]), c["metadata"].get("papermill", {}).get("duration") or 0.0
        times[next((name for name, key in GROUPS if key in src), "other cells")] += took
    times[OUTSIDE] = wall - sum(times.values())
    times["the three figures together"] = sum(v for k, v in times.items() if k.startswith("figure:"))
    return {"wall": wall, **times}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of the current code (and of COMMIT's, in turn)")
    ap.add_argument("--against", default="", help="a commit whose code runs in turn with the current code")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = {"current": ROOT}
        old = tmp / "against"
        if a.against:
            git = ["git", "-C", str(ROOT), "worktree"]
            subprocess.run(git + ["add", "-q", "--detach", str(old), a.against], check=True)
            codes[a.against] = old
        runs = {name: [] for name in codes}
        try:
            if a.against:
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(old / "rsr_nb")], check=True)
            for i in range(a.runs):
                order = list(codes.items())
                for name, repo in order if i % 2 == 0 else order[::-1]:  # neither code always goes first
                    out = tmp / f"{name}-{i}"
                    out.mkdir()
                    runs[name].append(run_once(repo, out))
                    print(f"run {i + 1}, {name}: {runs[name][-1]['wall']:.1f} s", flush=True)
        finally:
            if a.against:
                gone = subprocess.run(git + ["remove", "--force", str(old)], check=False)
                if gone.returncode:
                    print(f"could not remove the worktree {old}: run `git worktree prune`", file=sys.stderr)
    for name, rs in runs.items():
        walls = [r["wall"] for r in rs]
        median = statistics.median(walls)
        print(f"\n{name}: {len(rs)} runs, wall {min(walls):.1f}-{max(walls):.1f} s, median {median:.1f} s")
        print("  " + ", ".join(f"{w:.1f}" for w in walls))
        for key in rs[0]:
            if key != "wall":
                vals = [r[key] for r in rs]
                print(f"  {key:56s} {min(vals):5.1f}-{max(vals):5.1f} s")


if __name__ == "__main__":
    main()
