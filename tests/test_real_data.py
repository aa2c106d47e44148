"""Real files under RSR_DATA (CI: ../shared/data). Each test skips, saying why, when its files are not there."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rsr_nb.core import data_root
from rsr_nb.data import get_dataset
from rsr_nb.data.ucmerced import UCM_CLASSES, UCM_LABELS, read_multilabel_mat

ROOT = data_root()


def need(rel: str):
    p = ROOT / rel
    if not p.exists():
        pytest.skip(f"{p} not found: set RSR_DATA to a folder holding {rel} (CI uses ../shared/data)")
    return p


def test_all_ucmerced_images_and_classes():
    need("ucmerced/UCMerced_LandUse/Images")
    ds = get_dataset("ucmerced", image_size=64)
    assert len(ds) == 2100 and ds.classes == UCM_CLASSES
    assert ds.labels.bincount().tolist() == [100] * 21
    loader = torch.utils.data.DataLoader(ds, batch_size=128, num_workers=2)
    n = 0
    for batch in loader:
        assert batch["image"].shape[1:] == (3, 64, 64) and torch.isfinite(batch["image"]).all()
        n += len(batch["label"])
    assert n == 2100


def test_multilabel_matrix_matches_image_names():
    need("ucmerced/LandUse_Multilabeled.txt")
    ds = get_dataset("ucmerced-multilabel")
    assert ds.labels.shape == (2100, 17) and int(ds.labels.sum()) == 7003
    # spot checks against the file's own rows
    assert ds.names[0] == "agricultural00" and ds.labels[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert ds.names[-1] == "tenniscourt99"
    item = ds[150]
    assert item["scene"] == 1 and item["labels"][UCM_LABELS.index("airplane")] == 1


def test_speech_clips_and_labels():
    need("ucmerced/speech/speech.mat")
    ds = get_dataset("ucmerced-speech")
    assert len(ds) == 255 and ds[0]["speech"].shape == (128,)
    assert ds.labels.bincount().tolist() == [15] * 17
    assert ds.labels[:15].eq(0).all() and ds.labels[-15:].eq(16).all()   # rows grouped by label


def test_speech_label_mapping_assumption():
    """The released `splab` columns are taken to be the 17 labels of the multi-label file's header, in order. Check
    what the files allow: 17 contiguous groups of 15 clips, one per column in column order; a header of exactly
    the names in UCM_LABELS, in that order; every label used by at least one image; the loader follows the same map."""
    from scipy.io import loadmat
    lab_p = need("ucmerced/speech/splab.mat")
    txt_p = need("ucmerced/LandUse_Multilabeled.txt")
    splab = np.asarray(loadmat(lab_p)["splab"])
    assert splab.shape == (255, 17) and set(np.unique(splab).tolist()) == {0, 1} and (splab.sum(1) == 1).all()
    column = splab.argmax(1)
    assert column.tolist() == np.repeat(np.arange(17), 15).tolist()        # contiguous groups of 15, in column order
    rows = [r.split("\t") for r in txt_p.read_text(encoding="utf-8-sig").splitlines() if r.strip()]
    header = [h.strip() for h in rows[0]]
    assert header[0] == "IMAGE\\LABEL" and tuple(header[1:]) == UCM_LABELS
    y = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    assert y.shape == (2100, 17) and (y.sum(0) >= 1).all(), dict(zip(UCM_LABELS, y.sum(0).tolist()))
    ds = get_dataset("ucmerced-speech")
    assert ds.classes == tuple(header[1:]) and ds.labels.tolist() == column.tolist()


def test_plots_on_real_items():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    need("ucmerced/LandUse_Multilabeled.txt")
    need("ucmerced/speech/speech.mat")
    need("landsat8/l8_B8.tif")
    for name, options, index in (("ucmerced-multilabel", dict(image_size=64), 150), ("ucmerced-speech", {}, 20),
                                 ("landsat8-panms", dict(tile=64), 0)):
        fig = get_dataset(name, **options).plot(index)
        assert isinstance(fig, Figure), name
        plt.close(fig)


def test_earth_on_canvas_sketches_are_readable():
    root = need("earth_on_canvas/Sketches")
    files = sorted(root.glob("*/*.jpg"))
    assert len(files) == 125 and len({f.parent.name for f in files}) == 5
    for f in files:
        with Image.open(f) as im:
            assert im.convert("L").size == (256, 256)


def test_landsat_bands():
    need("landsat8/l8_B8.tif")
    ds = get_dataset("landsat8-panms", tile=64)
    pan, ms = ds.scene()
    assert ms.shape[0] == 4 and abs(pan.shape[0] / ms.shape[1] - 2) < 0.01
    assert np.isfinite(pan).all() and 0 < np.nanmean(ms) < 1          # TOA reflectance
    assert len(ds) > 10 and ds[0]["pan"].shape == (1, 128, 128)


def test_mat_label_variant_orientation(tmp_path):
    from scipy.io import savemat
    y = (np.random.default_rng(0).random((2100, 17)) < 0.2).astype(np.uint8)
    savemat(tmp_path / "LandUse_multilabels.mat", {"labels": y.T})
    assert np.array_equal(read_multilabel_mat(tmp_path / "LandUse_multilabels.mat"), y)


def test_real_without_files_is_a_clear_error_not_a_fallback(tmp_path):
    for name in ("ucmerced", "ucmerced-multilabel", "ucmerced-speech", "dsrsid", "landsat8-panms"):
        with pytest.raises(FileNotFoundError) as e:
            get_dataset(name, root=tmp_path / "empty")
        assert str(tmp_path / "empty") in str(e.value), name


@pytest.mark.parametrize("name,options", [("dsrsid", dict(n_per_class=3)), ("ucmerced-multilabel", dict(n_per_class=2)),
                                          ("ucmerced-speech", dict(clips_per_label=2))])
def test_twins_build_identically_twice(name, options):
    a, b = get_dataset(name, "simulated", seed=3, **options), get_dataset(name, "simulated", seed=3, **options)
    assert len(a) == len(b) and torch.equal(a.labels, b.labels)
    for i in range(len(a)):
        for k, v in a[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b[i][k])), (name, i, k)
