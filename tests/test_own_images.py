"""README's own-images block runs as it stands (issue 27): on a folder of real UC Merced scenes in class sub-folders
when RSR_DATA holds them, else on drawn scenes, from the folder the block expects to run in."""
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


def _block() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*Your own images, Siamese GCN retrieval\.\*\*.*?```python\n(.*?)```", text, re.S)
    assert block, "README needs the 'Your own images, Siamese GCN retrieval' block"
    return block.group(1)


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


def test_readme_own_images_block_runs_as_written(tmp_path):
    kind = _scenes(tmp_path / "my_scenes")
    (tmp_path / "block.py").write_text(_block())
    env = {**os.environ, "RSR_PROGRESS": "0", "RSR_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "block.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=1200
    )
    assert out.returncode == 0, out.stderr[-3000:]
    print(f"on {kind} scenes:\n{out.stdout}")
    assert "SGCN" in out.stdout and "CNN (ImageNet features)" in out.stdout and "Chance" in out.stdout
    assert re.search(r"^(held|not held|no measurable difference): SGCN is", out.stdout, re.M), out.stdout
    assert (tmp_path / "my_scenes_sgcn.pt").is_file()
    from rsr_nb.graphs.estimators import SGCNRetriever

    est = SGCNRetriever.load(tmp_path / "my_scenes_sgcn.pt")
    assert est.classes_ == UCM
    emb = est.transform(sorted((tmp_path / "my_scenes" / "beach").glob("*.png"))[:2])
    assert emb.shape == (2, 64) and np.isfinite(emb).all()
