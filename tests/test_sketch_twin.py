"The Sketchy / TU-Berlin twins: determinism, shapes, labels, subsets, bad arguments, word-vector agreement."

import pytest
import torch

from rsr_nb.data.sim.sketch import SEMANTIC_SHARE, SketchyTwin, TUBerlinTwin, semantic_visual_agreement
from rsr_nb.data.sketch import SKETCHY_CLASSES, TUBERLIN_CLASSES


@pytest.mark.parametrize("cls", [SketchyTwin, TUBerlinTwin])
@pytest.mark.parametrize("modality", ["sketch", "photo"])
def test_items_are_deterministic_and_well_formed(cls, modality):
    a = cls(modality, n_per_class=2, classes=cls.classes[:3], cache=False)
    b = cls(modality, n_per_class=2, classes=cls.classes[:3])
    assert len(a) == 6 and a.source == "simulated" and a.modality == modality
    assert a.labels.tolist() == [0, 0, 1, 1, 2, 2]
    for i in range(len(a)):
        x = a[i]
        assert x["image"].shape == (3, 64, 64) and x["image"].dtype == torch.float32
        assert 0 <= x["image"].min() and x["image"].max() <= 1
        assert x["label"] == int(a.labels[i])
        assert torch.equal(x["image"], a[i]["image"]) and torch.equal(x["image"], b[i]["image"])
    assert not torch.equal(a[0]["image"], a[1]["image"])
    assert not torch.equal(cls(modality, n_per_class=2, classes=cls.classes[:3], seed=1)[0]["image"], a[0]["image"])


def test_class_names_and_default_sizes():
    assert SketchyTwin.classes == SKETCHY_CLASSES and len(SKETCHY_CLASSES) == 125
    assert TUBerlinTwin.classes == TUBERLIN_CLASSES and len(TUBERLIN_CLASSES) == 250
    assert SketchyTwin().n_per_class == 12 and SketchyTwin("photo").n_per_class == 8
    assert (SketchyTwin.family, TUBerlinTwin.family) == ("sketchy", "tuberlin")


def test_subset_draws_the_same_items_as_the_full_set():
    sub = SketchyTwin(classes=["zebra", "cat"], n_per_class=2)
    full = SketchyTwin(n_per_class=2)
    assert sub.selected_classes == ("cat", "zebra")
    z = SKETCHY_CLASSES.index("zebra")
    assert sub.labels.tolist() == [SKETCHY_CLASSES.index("cat")] * 2 + [z] * 2
    assert torch.equal(sub[3]["image"], full[2 * z + 1]["image"])


def test_sketches_and_photos_differ():
    s, p = SketchyTwin("sketch", classes=["cat"], n_per_class=1), SketchyTwin("photo", classes=["cat"], n_per_class=1)
    assert not torch.equal(s[0]["image"], p[0]["image"])
    assert (s[0]["image"] > 0.99).float().mean() > 0.6  # white paper


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"modality": "drawing"}, "modality"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"n_per_class": 1.5}, "n_per_class"),
        ({"image_size": 8}, "image_size"),
        ({"seed": -1}, "seed"),
        ({"semantic_share": -0.1}, "semantic_share"),
        ({"classes": ["not_a_class"]}, "not_a_class"),
        ({"classes": "cat"}, "list"),
        ({"classes": []}, "empty"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SketchyTwin(**kwargs)


def test_word_vectors_predict_appearance_more_than_the_control():
    names = SKETCHY_CLASSES[:60]
    on = semantic_visual_agreement(SketchyTwin("photo", n_per_class=3, classes=names))
    off = semantic_visual_agreement(SketchyTwin("photo", n_per_class=3, classes=names, semantic_share=0.0))
    assert on.n_classes == 60 and on.semantic_share == SEMANTIC_SHARE and off.semantic_share == 0.0
    assert float(on) > 0.1 and float(on) > float(off) + 0.1
