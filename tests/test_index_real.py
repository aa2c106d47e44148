"""`rsr-index` on real data, as a user runs it: a folder of real UC Merced scenes indexed with the ImageNet encoder and
queried with held-out scenes (their class must come first), and an Earth on Canvas sketch index through a ZSCMR model
fitted on three sketched classes, queried with sketches of the two classes it never saw (their class must come back
above its share of the index). Both go through the `rsr-index` command in a fresh process, as README shows it.
Skips without the real data (set RSR_DATA; CI: ../shared/data). About 2 minutes on two cores."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rsr_nb.core import data_root

UCM = data_root() / "ucmerced" / "UCMerced_LandUse" / "Images"
EOC = data_root() / "earth_on_canvas" / "Sketches"
EOC_CLASS = {"Aeroplane": "airplane", "Buildings": "buildings", "Freeway": "freeway", "Runway": "runway",
             "Tenniscourt": "tenniscourt"}
NAME = {"tenniscourt": "tennis_court"}  # how a user would name the folder for the word vectors: two words


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RSR_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-m", "rsr_nb.index.cli", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _images(c: str) -> list:
    return sorted(f for f in (UCM / c).iterdir() if f.suffix.lower() in (".tif", ".jpg", ".png"))


def _copy(files, folder: Path, size: int = 128):
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        Image.open(f).convert("RGB").resize((size, size)).save(folder / f"{f.stem}.png")


@pytest.fixture(scope="module")
def ucm():
    if not UCM.is_dir():
        pytest.skip(f"{UCM} does not hold the real UC Merced images (set RSR_DATA; CI: ../shared/data)")
    return sorted(d.name for d in UCM.iterdir() if d.is_dir())


def test_image_query_on_real_uc_merced_returns_its_class_first(tmp_path, ucm):
    for c in ucm:  # images 0-19 of each class indexed; 90-99 held out as queries
        files = _images(c)
        _copy(files[:20], tmp_path / "archive" / c)
        _copy(files[90:92], tmp_path / "held_out" / c)
    _cli("build", tmp_path / "archive", "--encoder", "imagenet", "--out", tmp_path / "index", "--quiet")
    info = _cli("info", tmp_path / "index").stdout
    assert "420" in info and "flat" in info, info
    queries = sorted((tmp_path / "held_out").glob("*/*.png"))
    res = json.loads(_cli("query", tmp_path / "index", "--image", queries[0], "-k", 5, "--json").stdout)
    assert [r["rank"] for r in res] == [1, 2, 3, 4, 5]
    assert res[0]["label"] == queries[0].parent.name and Path(res[0]["path"]).parent.name == res[0]["label"], res
    from rsr_nb.index.archive import ArchiveIndex

    found = ArchiveIndex(tmp_path / "index").query(image=[str(q) for q in queries], k=5)  # the same, in one process
    hits = found.labels == np.array([q.parent.name for q in queries])[:, None]
    print(f"{len(hits)} held-out queries: top-1 of their class {hits[:, 0].mean():.2f}, P@5 {hits.mean():.2f} "
          f"(chance {1 / len(ucm):.2f})")
    assert hits[:, 0].mean() >= 0.7 and hits.mean() >= 0.6


def test_sketch_query_through_zscmr_returns_the_unseen_class_above_chance(tmp_path, ucm):
    if not EOC.is_dir():
        pytest.skip(f"{EOC} does not hold the Earth on Canvas sketches (set RSR_DATA; CI: ../shared/data)")
    from rsr_nb.zscmr.estimator import ZSCMREstimator

    seen, unseen = ("airplane", "buildings", "freeway"), ("runway", "tenniscourt")
    for folder, c in EOC_CLASS.items():
        files = _images(c)
        name = NAME.get(c, c)
        _copy(files[:40], tmp_path / "archive" / name)  # the archive: all five sketched classes
        sketches = sorted((EOC / folder).glob("*.jpg"), key=lambda f: int(f.stem))
        _copy(sketches, tmp_path / "sketches" / name)
        if c in seen:  # training: the seen classes only, with other images than the archive's
            _copy(files[50:90], tmp_path / "train_images" / name)
            _copy(sketches, tmp_path / "train_sketches" / name)
    est = ZSCMREstimator(backbone_input=128, stage1_epochs=20, epochs=20, seed=0)
    est.fit(str(tmp_path / "train_images"), str(tmp_path / "train_sketches"))
    assert set(est.classes_) == set(seen)  # no unseen class reached fit
    est.save(tmp_path / "zscmr.pt")
    _cli("build", tmp_path / "archive", "--encoder", tmp_path / "zscmr.pt", "--out", tmp_path / "index", "--quiet")
    first = sorted((tmp_path / "sketches" / "runway").glob("*.png"))[0]
    res = json.loads(_cli("query", tmp_path / "index", "--sketch", first, "-k", 10, "--json").stdout)
    assert len(res) == 10
    from rsr_nb.index.archive import ArchiveIndex

    index, p10 = ArchiveIndex(tmp_path / "index"), {}
    for c in unseen:  # every sketch of each unseen class, in one process
        name = NAME.get(c, c)
        found = index.query(sketch=[str(f) for f in sorted((tmp_path / "sketches" / name).glob("*.png"))], k=10)
        p10[name] = float((found.labels == name).mean())
    chance = 1 / len(EOC_CLASS)  # each class is a fifth of the archive
    print(f"sketch -> image P@10 on the unseen classes: {p10} (chance {chance:.2f})")
    assert all(v > chance for v in p10.values()), p10
