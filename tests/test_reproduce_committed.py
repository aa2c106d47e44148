"""One committed result, re-run: seed 0 of results/dsrsid_dv64.json (README's first command on three seeds) is rebuilt
here and must give the same CMIR-NET numbers.

When it can match exactly: same code (the file records its commit), same platform and the same number of torch
threads (recorded too). CPU kernels sum in a different order with another thread count or another CPU type, and
training amplifies those last-digit differences; then the numbers agree only to within the seed-to-seed spread, and
this test checks that weaker statement instead (it says which check it made)."""
import json
import platform
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "dsrsid_dv64.json"


def test_seed_0_of_a_committed_result_reruns():
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED.name} is not committed")
    from rsr_nb.cmirnet.pipelines import DSRSIDExperiment, load_dsrsid, run_dsrsid
    rec = json.loads(COMMITTED.read_text())
    params = {**rec["params"], "seeds": [0], "baselines": [], "show_figures": False}
    threads = torch.get_num_threads()
    torch.set_num_threads(rec["versions"]["torch_threads"])
    try:
        cfg = DSRSIDExperiment(**params)
        run = run_dsrsid(cfg, load_dsrsid(cfg))
    finally:
        torch.set_num_threads(threads)
    key = lambda r: (r["task"], r["metric"])
    ours = {key(r): r["value"] for r in run.rows if r["method"] == "CMIR-NET"}
    committed = {key(r): r["value"] for r in rec["rows"] if r["method"] == "CMIR-NET" and r["seed"] == 0}
    assert set(ours) == set(committed)
    same_machine = rec["versions"]["platform"] == platform.platform() and rec["versions"]["machine"] == platform.machine()
    diffs = {k: abs(ours[k] - committed[k]) for k in ours}
    if same_machine:
        assert max(diffs.values()) < 1e-6, f"same platform and threads, different numbers: {diffs}"
    else:   # another CPU: within the committed seed-to-seed spread (at least half a point)
        spread = {}
        for k in committed:
            vals = [r["value"] for r in rec["rows"] if r["method"] == "CMIR-NET" and key(r) == k]
            spread[k] = max(0.5, 2 * float(np.std(vals)))
        assert all(diffs[k] <= spread[k] for k in diffs), (diffs, spread)
