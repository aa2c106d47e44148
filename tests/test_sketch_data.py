"""Sketchy and TU-Berlin on tiny generated trees in the official layouts (no copy of either dataset is needed): the
class lists and name variants, the zero-shot splits against the published SEM-PCYC class lists, the loaders' items,
and the errors for missing, partial, empty or misnamed data."""

import pytest
import torch
from fastcore.test import test_eq as check_eq
from fastcore.test import test_fail as check_fail
from torch.utils.data import DataLoader

from rsr_nb.data.download import DatasetCorruptError, DatasetNotFoundError
from rsr_nb.data.sketch import (
    CLASS_NAME_VARIANTS,
    ECCV18_SKETCHY_UNSEEN,
    FAKE_CLASSES,
    SKETCHY_CLASSES,
    TUBERLIN_CLASSES,
    ZERO_SHOT_SPLITS,
    Sketchy,
    TUBerlin,
    canonical_class,
    class_words,
    sem_pcyc_classes,
    write_sketch_tree,
    zero_shot_split,
)

# SEM-PCYC's unseen (validation + test) classes as its papers list them: the oracle for the computed split.
SEM_PCYC_UNSEEN = {
    "sketchy": "bear bell cannon door eyeglasses geyser guitar hamburger jack_o_lantern lobster motorcycle mushroom "
    "pear racket rhinoceros saw saxophone spoon squirrel tank teapot tiger trumpet violin wheelchair",
    "tuberlin": "backpack bicycle bookshelf cabinet calculator castle couch dolphin door_handle duck eyeglasses "
    "fire_hydrant flying_saucer foot hedgehog knife octopus pear purse rollerblades sailboat snail snake snowman "
    "swan tablelamp traffic_light truck umbrella walkie_talkie",
}


def test_class_lists():
    assert len(SKETCHY_CLASSES) == len(set(SKETCHY_CLASSES)) == 125
    assert len(TUBERLIN_CLASSES) == len(set(TUBERLIN_CLASSES)) == 250
    assert list(SKETCHY_CLASSES) == sorted(SKETCHY_CLASSES) and list(TUBERLIN_CLASSES) == sorted(TUBERLIN_CLASSES)
    assert {"hot-air_balloon", "jack-o-lantern"} <= set(SKETCHY_CLASSES)
    assert {"bear (animal)", "pipe (for smoking)", "wrist-watch"} <= set(TUBERLIN_CLASSES)


@pytest.mark.parametrize("dataset", ["sketchy", "tuberlin"])
def test_sem_pcyc_split_matches_published(dataset):
    seen, unseen = zero_shot_split(dataset, "sem-pcyc")
    assert set(unseen) == {canonical_class(n, dataset) for n in SEM_PCYC_UNSEEN[dataset].split()}
    parts = sem_pcyc_classes(dataset)
    assert set(parts["valid"]) | set(parts["test"]) == set(unseen) and set(parts["train"]) == set(seen)


def test_other_splits():
    seen, unseen = zero_shot_split("sketchy", "eccv18")
    assert set(unseen) == set(ECCV18_SKETCHY_UNSEEN) and len(seen) == 104
    assert zero_shot_split("sketchy", "zscmr-code")[1] == SKETCHY_CLASSES[-25:]
    assert zero_shot_split("tuberlin", "zscmr-code")[1] == TUBERLIN_CLASSES[-30:]
    for ds, classes in (("sketchy", SKETCHY_CLASSES), ("tuberlin", TUBERLIN_CLASSES)):
        for split in ZERO_SHOT_SPLITS:
            if (ds, split) == ("tuberlin", "eccv18"):
                continue
            seen, unseen = zero_shot_split(ds, split)
            assert not set(seen) & set(unseen) and set(seen) | set(unseen) == set(classes)
    check_fail(lambda: zero_shot_split("tuberlin", "eccv18"), contains="Sketchy only")
    check_fail(lambda: zero_shot_split("sketchy", "nope"), contains="sem-pcyc")
    check_fail(lambda: zero_shot_split("quickdraw", "sem-pcyc"), contains="tuberlin")


def test_names_and_words():
    for ds, variant, canon, _ in CLASS_NAME_VARIANTS:
        assert canonical_class(variant, ds) == canon
    check_eq(canonical_class("jack_o_lantern", "sketchy"), "jack-o-lantern")
    check_eq(canonical_class("door_handle", "tuberlin"), "door handle")
    check_eq(canonical_class("spidar", "tuberlin"), "spider")
    check_fail(lambda: canonical_class("unicorn", "sketchy"), contains="not a sketchy class")
    check_eq(class_words("jack-o-lantern"), ["jack", "o", "lantern"])
    check_eq(class_words("hot-air_balloon"), ["hot", "air", "balloon"])
    check_eq(class_words("bear (animal)"), ["bear"])
    check_eq(class_words("walkie talkie"), class_words("walkie_talkie"))


@pytest.mark.parametrize("layout", ["official", "sem-pcyc"])
def test_sketchy_layouts(tmp_path, layout):
    root = write_sketch_tree(tmp_path, "sketchy", per_class=2, layout=layout)
    classes = FAKE_CLASSES["sketchy"]
    want = [SKETCHY_CLASSES.index(c) for c in classes for _ in range(2)]
    for kw in ({}, {"modality": "photo"}, {"modality": "photo", "photos": "extended"}):
        ds = Sketchy(root, classes=classes, image_size=24, **kw)
        check_eq(ds.labels.tolist(), want)
        item = ds[1]
        check_eq(item["image"].shape, (3, 24, 24))
        assert item["image"].dtype == torch.float32 and 0 <= item["image"].min() <= item["image"].max() <= 1
        assert isinstance(item["label"], int)
        check_eq(ds.describe()["modality"], kw.get("modality", "sketch"))
    batch = next(iter(DataLoader(ds, batch_size=4)))
    check_eq(batch["image"].shape, (4, 3, 24, 24))


@pytest.mark.parametrize("layout", ["official", "sem-pcyc"])
def test_tuberlin_layouts(tmp_path, layout):
    root = write_sketch_tree(tmp_path, "tuberlin", per_class=3, layout=layout)
    classes = FAKE_CLASSES["tuberlin"]
    want = [TUBERLIN_CLASSES.index(c) for c in classes for _ in range(3)]
    for modality in ("sketch", "photo"):
        ds = TUBerlin(root, modality=modality, classes=classes, image_size=20)
        check_eq(ds.labels.tolist(), want)
        check_eq(ds[0]["image"].shape, (3, 20, 20))
    # a subset in another spelling, and the sketch is black strokes on white
    ds = TUBerlin(root, classes=["mouse_(animal)"], image_size=None)
    check_eq(ds.labels.unique().tolist(), [TUBERLIN_CLASSES.index("mouse (animal)")])
    img = ds[0]["image"]
    assert float(img.max()) == 1.0 and float(img.min()) < 0.2


def test_rsr_data_default_root(tmp_path, monkeypatch):
    write_sketch_tree(tmp_path / "sketchy", "sketchy", parts=("sketch",))
    monkeypatch.setenv("RSR_DATA", str(tmp_path))
    check_eq(len(Sketchy(classes=FAKE_CLASSES["sketchy"])), 8)
    check_fail(lambda: TUBerlin(), contains=str(tmp_path / "tuberlin" / "png"))


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no automatic download"):
        Sketchy(tmp_path / "none", download=True)
    with pytest.raises(DatasetNotFoundError, match="ImageResized"):
        TUBerlin(tmp_path / "none", modality="photo")
    root = write_sketch_tree(tmp_path / "tu", "tuberlin")
    with pytest.raises(DatasetNotFoundError, match="246 tuberlin class folder"):
        TUBerlin(root)  # all 250 asked for, 4 present
    (root / "png" / "pear").mkdir()
    with pytest.raises(DatasetCorruptError, match="holds no .png files"):
        TUBerlin(root, classes=["pear"])
    (root / "png" / "pear").rmdir()
    (root / "png" / "gryphon").mkdir()
    with pytest.raises(DatasetCorruptError, match="gryphon: the folder name is not a tuberlin class"):
        TUBerlin(root, classes=["zebra"])
    (root / "png" / "gryphon").rmdir()
    (root / "png" / "bear_(animal)").mkdir()  # a second spelling of a class already there
    with pytest.raises(DatasetCorruptError, match="are both class 'bear \\(animal\\)'"):
        TUBerlin(root, classes=["zebra"])
    check_fail(lambda: Sketchy(root, modality="drawing"), contains="modality must be")
    check_fail(lambda: write_sketch_tree(tmp_path, "sketchy", layout="mine"), contains="layout must be")
