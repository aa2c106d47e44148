"""torchgeo datasets as own-data input (issue 27, point 2). torchgeo is an optional extra: without it, the one form
that needs it says which extra to install, and the rest of the project does not notice. With it, a torchgeo UCMerced
goes straight into an estimator's `fit`; the shared data copy does not have torchgeo's layout (the test says why), so
the dataset is laid out from a few of its images the way torchgeo reads them."""
import importlib.util

import numpy as np
import pytest
from PIL import Image

from rsr_nb.core import data_root
from rsr_nb.data.sources import image_source

HAS_TORCHGEO = importlib.util.find_spec("torchgeo") is not None
CLASSES = ("beach", "forest", "harbor")


@pytest.mark.skipif(HAS_TORCHGEO, reason="torchgeo is installed: the missing-extra message cannot be seen")
def test_without_torchgeo_the_message_names_the_extra():
    with pytest.raises(ImportError, match=r'pip install -e "\.\[torchgeo\]"'):
        image_source("torchgeo:UCMerced", root="anywhere")


@pytest.mark.skipif(not HAS_TORCHGEO, reason='torchgeo is not installed (pip install -e ".[torchgeo]" to run this)')
def test_a_torchgeo_ucmerced_goes_straight_into_fit(tmp_path):
    from torchgeo.datasets import UCMerced

    from rsr_nb.graphs.estimators import SGCNRetriever

    shared = data_root() / "ucmerced"
    images = shared / "UCMerced_LandUse" / "Images"
    if not all((images / c).is_dir() for c in CLASSES):
        pytest.skip("RSR_DATA does not hold ucmerced/UCMerced_LandUse/Images (CI uses ../shared/data)")
    try:
        fits = len(UCMerced(root=str(shared), split="train")) > 0
        why = "" if fits else "torchgeo finds no image of its split lists in it"
    except FileNotFoundError as e:
        fits, why = False, f"torchgeo cannot read it: {e}"
    if not fits:  # the shared copy has .jpg files and no uc_merced-*.txt lists; torchgeo expects .tif and the lists
        print(f"the shared UC Merced copy does not have torchgeo's layout ({why}); laying out 24 of its images")
        names = []
        for c in CLASSES:
            (tmp_path / "UCMerced_LandUse" / "Images" / c).mkdir(parents=True)
            for f in sorted((images / c).iterdir())[:8]:
                out = tmp_path / "UCMerced_LandUse" / "Images" / c / f"{f.stem}.tif"
                Image.open(f).convert("RGB").resize((96, 96)).save(out)
                names.append(f"{f.stem}.tif")
        (tmp_path / "uc_merced-train.txt").write_text("\n".join(names) + "\n")
        root = tmp_path
    else:
        root = shared
    ds = UCMerced(root=str(root), split="train")
    src = image_source(ds)
    assert len(src) == len(ds) and src.items[0].dtype == np.uint8 and src.items[0].shape[-1] == 3
    est = SGCNRetriever(epochs=3, siamese_epochs=3, pairs_per_epoch=64, n_jobs=1, validation_fraction=0.25,
                        cache_dir=str(tmp_path / "cache")).fit(ds)
    emb = est.transform(ds)
    assert emb.shape == (len(ds), 64) and np.isfinite(emb).all()
