"""README's own-data example runs as written (as a script, twice), prints the same text in every fresh process, and shows its baseline."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _own_data_block() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## On your own data.*?```python\n(.*?)```", text, re.S)
    assert block, "README needs an 'On your own data' section with a python block"
    return block.group(1)


def _run_fresh(folder: Path) -> str:
    "The block as a script in a fresh Python process (its own hash seed), in an empty folder; its stdout."
    folder.mkdir()
    script = folder / "own_data.py"
    script.write_text(_own_data_block())
    env = {**os.environ, "RSR_PROGRESS": "0", "PYTHONHASHSEED": "random"}  # progress lines carry timings
    out = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (folder / "digits_cmirnet.pt").is_file(), "the block should save into the folder it runs in"
    return out.stdout


def test_own_data_example_prints_the_same_in_two_fresh_processes_with_its_baseline(tmp_path):
    first, second = _run_fresh(tmp_path / "first"), _run_fresh(tmp_path / "second")
    assert first == second, f"two fresh runs printed different text:\n{first}\n---\n{second}"
    assert re.search(r"CMIR-NET.*mAP@all 0\.\d+, P@10 0\.\d+", first), first
    assert re.search(r"baseline.*mAP@all 0\.\d+, P@10 0\.\d+", first), first
    assert re.search(r"higher on mAP@all: (CMIR-NET|the LogReg baseline)", first), first
    assert float(re.search(r"CMIR-NET: mAP@all (0\.\d+)", first).group(1)) > 0.3  # chance is about 0.1
    # the saved estimator loads, and the two runs saved the same model
    import numpy as np
    from rsr_nb.cmirnet.model import CMIRNetEstimator

    x = np.random.default_rng(0).normal(size=(3, 32)).astype("float32")
    a, b = (CMIRNetEstimator.load(tmp_path / d / "digits_cmirnet.pt") for d in ("first", "second"))
    assert (a.transform(x, modality="b") == b.transform(x, modality="b")).all()
