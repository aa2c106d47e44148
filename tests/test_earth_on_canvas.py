"""Earth on Canvas: the loader and the released word vectors on the real files (skipped without them), and the
errors a user meets with files missing or broken (a temporary folder)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from rsr_nb.data.download import DatasetCorruptError, DatasetNotFoundError
from rsr_nb.data.earth_on_canvas import (
    EOC_CLASSES,
    EOC_FOLDERS,
    EOC_WV_NAMES,
    EarthOnCanvas,
    check_released_row_order,
    released_word_vectors,
    to_ucmerced,
)
from rsr_nb.data.ucmerced import UCM_CLASSES


def _real_root() -> Path | None:
    if not os.environ.get("RSR_DATA"):
        return None
    root = Path(os.environ["RSR_DATA"]) / "earth_on_canvas"
    return root if (root / "Sketches").is_dir() and (root / "wv_embeddings.mat").is_file() else None


REAL = _real_root()
needs_real = pytest.mark.skipif(REAL is None, reason="RSR_DATA is unset or holds no earth_on_canvas/ folder")


def _fake(root: Path, n: int = 2) -> Path:
    for ci, f in enumerate(EOC_FOLDERS):
        (root / "Sketches" / f).mkdir(parents=True)
        for k in range(n):
            Image.fromarray(np.full((8, 8, 3), 50 * ci, np.uint8)).save(root / "Sketches" / f / f"{k}.jpg")
    return root


@needs_real
def test_real_sketches():
    ds = EarthOnCanvas(REAL, image_size=64)
    assert len(ds) == 125
    assert ds.labels.bincount().tolist() == [25] * 5
    item = ds[30]
    assert item["image"].shape == (3, 64, 64) and item["label"] == 1
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 1
    assert set(ds.classes) <= set(UCM_CLASSES)


@needs_real
def test_real_word_vectors_and_row_order():
    cv = released_word_vectors(REAL)
    assert cv.vectors.shape == (14, 300) and cv.names == EOC_WV_NAMES
    table, summary = check_released_row_order(REAL, n_perm=1000, restarts=10)
    # every row's word-count fingerprint matches its assumed name (one word / mean of two / mean of three)
    assert table["fingerprint_ok"].all()
    assert table.loc[table["name"] == "Mobile home park", "fingerprint"].item() == "mean of 3+"
    # the given order's similarity structure agrees with GloVe's far beyond random relabellings
    assert summary["p_value"] < 0.01 and summary["agreement"] > summary["perm_q95"]
    assert summary["hungarian_keeps_order"]
    # whatever the graph matching would move stays inside a fingerprint group
    assert summary["matching_moves_within_groups"]


def test_missing_data_explains_the_manual_step(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="There is no direct download"):
        EarthOnCanvas(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="wv_embeddings.mat"):
        released_word_vectors(tmp_path)


def test_fake_tree_and_bad_files(tmp_path):
    root = _fake(tmp_path / "eoc")
    ds = EarthOnCanvas(root, per_class=2, image_size=16)
    assert len(ds) == 10 and ds.labels.tolist() == [c for c in range(5) for _ in range(2)]
    assert [ds.classes[c] for c in ds.labels[::2]] == list(EOC_CLASSES)
    with pytest.raises(DatasetCorruptError, match="expected 25"):
        EarthOnCanvas(root)
    savemat(root / "wv_embeddings.mat", {"vectors": np.zeros((14, 300))})
    with pytest.raises(DatasetCorruptError, match="no variable 'features'"):
        released_word_vectors(root)
    (root / "wv_embeddings.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetCorruptError, match="not a readable .mat"):
        released_word_vectors(root)


def test_ucmerced_mapping():
    assert [to_ucmerced(f) for f in EOC_FOLDERS] == list(EOC_CLASSES)
    assert {to_ucmerced(n) for n in EOC_WV_NAMES} <= set(UCM_CLASSES)
    with pytest.raises(ValueError, match="not an Earth on Canvas class"):
        to_ucmerced("beach")
