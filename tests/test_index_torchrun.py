"""Archive extraction past one process: `torchrun --standalone --nproc_per_node 2 -m rsr_nb.index.build` (gloo, on the
CPU) must give the same index as one process: the same vectors in the same order, the same items, the same answers.
Also: an interrupted multi-process build resumes. About 40 s on two cores."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rsr_nb.index import ann
from rsr_nb.index.archive import ArchiveIndex


def _archive(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, c in enumerate(("dark", "mid", "light")):
        (root / c).mkdir(parents=True)
        for i in range(11):  # 33 items: shards of 4 leave a short last shard, and the ranks get 5 and 4 shards
            tile = np.clip(rng.normal(50 + 80 * k, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(tile).save(root / c / f"{c}{i:02d}.png")
    return root


def _build(args: list, procs: int, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RSR_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    r = subprocess.run([*launch, "-m", "rsr_nb.index.build", *map(str, args), "--out", str(out)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


def _content(ix: ArchiveIndex) -> np.ndarray:
    "The faiss index as bytes: equal bytes, equal index."
    import faiss

    return faiss.serialize_index(ix.index)


def test_two_processes_build_the_same_index_as_one(tmp_path):
    arch = _archive(tmp_path / "archive")
    args = [arch, "--encoder", "imagenet", "--input-size", "64", "--shard-size", "4", "--batch-size", "3", "--quiet"]
    _build(args, 1, tmp_path / "one")
    r = _build(args, 2, tmp_path / "two")
    assert "built by 2 process(es)" in r.stdout, r.stdout
    one, two = ArchiveIndex(tmp_path / "one"), ArchiveIndex(tmp_path / "two")
    assert one.items.equals(two.items)
    shards = sorted(p.name for p in (tmp_path / "two" / "vectors").iterdir())
    assert shards == sorted(p.name for p in (tmp_path / "one" / "vectors").iterdir()) and len(shards) == 9
    for name in shards:  # every shard, bit for bit, whichever rank encoded it
        assert np.array_equal(np.load(tmp_path / "one" / "vectors" / name), np.load(tmp_path / "two" / "vectors" / name))
    assert np.array_equal(_content(one), _content(two))
    q = np.load(tmp_path / "one" / "vectors" / shards[0])
    s1, i1 = ann.search(one.index, q, k=5)
    s2, i2 = ann.search(two.index, q, k=5)
    assert np.array_equal(i1, i2) and np.array_equal(s1, s2)
    assert two.meta["parts"][0]["processes"] == 2 and one.meta["parts"][0]["processes"] == 1
    assert not (tmp_path / "two" / "work").exists()  # the plan is removed once the index is written


def test_a_build_resumes_from_the_shards_on_disk(tmp_path):
    arch = _archive(tmp_path / "archive")
    args = [arch, "--encoder", "imagenet", "--input-size", "64", "--shard-size", "4", "--quiet"]
    _build(args, 1, tmp_path / "full")
    _build(args, 2, tmp_path / "part")
    # simulate a build killed before the merge: the index files gone, the plan and three shards missing
    for name in ("meta.json", "items.parquet", "index.faiss"):
        (tmp_path / "part" / name).unlink()
    for name in ("00000-00001.npy", "00000-00004.npy", "00000-00008.npy"):
        (tmp_path / "part" / "vectors" / name).unlink()
    done = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "part" / "vectors").iterdir()}
    _build(args, 2, tmp_path / "part")
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "part" / "vectors").iterdir()}
    assert all(after[n] == t for n, t in done.items()), "a finished shard was encoded again"
    assert len(after) == 9
    assert np.array_equal(_content(ArchiveIndex(tmp_path / "full")), _content(ArchiveIndex(tmp_path / "part")))
