"""README's own-images blocks run as they stand (issue 27): SGCN and GCN multi-label on a folder of real UC Merced
scenes in class sub-folders (and a CSV of their paths and labels) when RSR_DATA holds them, else on drawn scenes;
ZSCMR on drawn photos and sketches of seen and unseen classes; each from the folder the block expects to run in."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rsr_nb.core import data_root

ROOT = Path(__file__).resolve().parents[1]
UCM = ("beach", "forest", "harbor")  # three visually distinct scene classes


def _blocks() -> list[str]:
    "The three python blocks after README's 'Your own images' paragraph: SGCN, GCN multi-label, ZSCMR."
    text = (ROOT / "README.md").read_text()
    part = text.split("**Your own images.**", 1)
    assert len(part) == 2, "README needs the 'Your own images' paragraph"
    blocks = re.findall(r"```python\n(.*?)```", part[1], re.S)[:3]
    assert len(blocks) == 3 and "SGCNRetriever" in blocks[0] and "GCNMultiLabel" in blocks[1], blocks
    assert "ZSCMREstimator" in blocks[2], blocks
    return blocks


def _run(block: str, cwd: Path) -> str:
    (cwd / "block.py").write_text(block)
    env = {**os.environ, "RSR_PROGRESS": "0", "RSR_CACHE": str(cwd / "cache")}
    out = subprocess.run([sys.executable, "block.py"], cwd=cwd, capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _scenes(folder: Path, per_class: int = 10) -> str:
    "my_scenes/<class>/*.png: real UC Merced tiles (halved to 128 px to keep the test short), else drawn ones."
    images = data_root() / "ucmerced" / "UCMerced_LandUse" / "Images"
    real = all((images / c).is_dir() for c in UCM)
    rng = np.random.default_rng(0)
    for k, c in enumerate(UCM):
        (folder / c).mkdir(parents=True)
        files = sorted(f for f in (images / c).iterdir() if f.suffix in (".tif", ".jpg", ".png")) if real else []
        for i in range(per_class):
            if real:
                img = Image.open(files[i]).convert("RGB").resize((128, 128))
            else:
                base = np.array([[200, 190, 120], [40, 110, 50], [70, 90, 140]][k])
                img = Image.fromarray(np.clip(base + rng.normal(0, 25, (128, 128, 3)), 0, 255).astype(np.uint8))
            img.save(folder / c / f"{c}{i:02d}.png")
    return "real UC Merced" if real else "drawn"


def test_readme_sgcn_block_runs_as_written(tmp_path):
    kind = _scenes(tmp_path / "my_scenes")
    out = _run(_blocks()[0], tmp_path)
    print(f"on {kind} scenes:\n{out}")
    assert "SGCN" in out and "CNN (ImageNet features)" in out and "Chance" in out
    assert re.search(r"^(held|not held|no measurable difference): SGCN is", out, re.M), out
    assert (tmp_path / "my_scenes_sgcn.pt").is_file()
    from rsr_nb.graphs.estimators import SGCNRetriever

    est = SGCNRetriever.load(tmp_path / "my_scenes_sgcn.pt")
    assert est.classes_ == UCM
    emb = est.transform(sorted((tmp_path / "my_scenes" / "beach").glob("*.png"))[:2])
    assert emb.shape == (2, 64) and np.isfinite(emb).all()


LABELS = {"beach": "beach;sand;water", "forest": "trees", "harbor": "water;boats"}  # several labels per scene


def test_readme_gcn_multilabel_block_runs_as_written(tmp_path):
    kind = _scenes(tmp_path / "my_scenes")
    files = sorted(tmp_path.glob("my_scenes/*/*.png"))
    rows = [f"{p.relative_to(tmp_path).as_posix()},{LABELS[p.parent.name]}" for p in files]
    (tmp_path / "my_labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    out = _run(_blocks()[1], tmp_path)
    print(f"on {kind} scenes:\n{out}")
    assert "GCN" in out and "LogReg (ImageNet features)" in out and "Chance (label frequencies)" in out
    assert re.search(r"^(held|not held|no measurable difference): GCN is", out, re.M), out


def _sketch_folders(root: Path):
    from rsr_nb.data.sim.sketch import SketchyTwin

    for part, classes in (("seen", ["cat", "dog", "airplane", "apple", "guitar"]), ("unseen", ["tiger", "pear"])):
        for kind, folder in (("photo", "my_photos"), ("sketch", "my_sketches")):
            ds = SketchyTwin(kind, n_per_class=6, classes=classes)
            for i in range(len(ds)):
                c = ds.classes[int(ds.labels[i])]
                (root / folder / part / c).mkdir(parents=True, exist_ok=True)
                img = (ds[i]["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                Image.fromarray(img).save(root / folder / part / c / f"{i:03d}.png")


def test_readme_zscmr_block_runs_as_written(tmp_path):
    _sketch_folders(tmp_path)
    block = _blocks()[2] + "\nimport numpy as np\nnp.save('query.npy', query)\nnp.save('gallery.npy', gallery)\n"
    _run(block, tmp_path)
    q, g = np.load(tmp_path / "query.npy"), np.load(tmp_path / "gallery.npy")
    assert q.shape == (12, 64) and g.shape == (12, 64) and np.isfinite(q).all() and np.isfinite(g).all()
