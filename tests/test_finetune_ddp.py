"""The fine-tuned baseline trains under torchrun with DistributedDataParallel on the same code path as one process:
two CPU processes (gloo) each take half of every global batch, pytorch-metric-learning's distributed wrappers let the
multi-similarity loss and its miner see both halves, and the ranks must end with identical weights that match a
one-process run with the same global batch to float tolerance. About 40 s."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, c in enumerate(("dark", "mid", "light")):
        (root / c).mkdir(parents=True)
        for i in range(12):
            tile = np.clip(rng.normal(50 + 70 * k, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(tile).save(root / c / f"{c}{i:02d}.png")
    return root


def _run(procs: int, folder: Path, prefix: Path, cache: Path, *extra: Path):
    env = {**os.environ, "RSR_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    r = subprocess.run([*launch, str(ROOT / "tests" / "ddp_finetune_worker.py"), str(folder), str(prefix), str(cache),
                        *map(str, extra)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]


def _sketches(folder: Path, root: Path) -> Path:
    "The same scenes as another modality: inverted grey tiles."
    for f in sorted(folder.rglob("*.png")):
        (root / f.parent.name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - np.asarray(Image.open(f).convert("L"))).convert("RGB").save(root / f.parent.name / f.name)
    return root


def test_two_processes_train_as_one(tmp_path):
    _check_two_as_one(tmp_path, cross=False)


def test_two_processes_train_the_cross_modal_towers_as_one(tmp_path):
    "The same for the two towers: the cross-modal loss (ref_emb) through the distributed wrappers."
    _check_two_as_one(tmp_path, cross=True)


def _check_two_as_one(tmp_path, cross: bool):
    folder, cache = _folder(tmp_path / "scenes"), tmp_path / "cache"
    from rsr_nb.finetune import trunk_features

    extra = (_sketches(folder, tmp_path / "sketches"),) if cross else ()
    for f in (folder, *extra):
        trunk_features(f, input_size=64, cache_dir=str(cache), show_progress=False)  # the ranks share the cache
    _run(1, folder, tmp_path / "one", cache, *extra)
    _run(2, folder, tmp_path / "two", cache, *extra)
    one = torch.load(tmp_path / "one_rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two_rank{r}.pt", weights_only=True) for r in (0, 1))
    assert len(r0["history"]) == len(one["history"]) == 3  # training proceeded for every epoch
    assert r0["history"][0]["total"] > 0 and r0["history"][-1]["validation"] > 0
    init = _initial(cross)
    keys = [k for k in one["state"] if not k.endswith("num_batches_tracked")]
    step_one = torch.cat([(one["state"][k].float() - init[k].float()).flatten() for k in keys])
    step_two = torch.cat([(r0["state"][k].float() - init[k].float()).flatten() for k in keys])
    assert step_one.norm() > 1e-2, "the weights did not change: nothing was trained"
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), f"ranks disagree on {k}"
    # Adam turns last-digit differences in tiny gradients into small steps, so compare the whole update: a wrong
    # distributed loss (each rank mining only its half, or the gradient averaged without the loss scaled) moves it by
    # tens of percent; the same computation summed in another order, by a fraction of a percent
    rel = float((step_two - step_one).norm() / step_one.norm())
    print(f"update: |two - one| / |one| = {rel:.2e} over {len(step_one)} weights")
    assert rel < 1e-2, rel


def _initial(cross: bool) -> dict:
    "The untrained top's (or towers') weights, as fit starts from them (seed 0)."
    from rsr_nb.finetune import _split_backbone, _Towers

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _Towers(11, 64).state_dict() if cross else _split_backbone(11, 128)[1].state_dict()
