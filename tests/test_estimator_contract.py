"""One contract for every own-data estimator (issue 27): scikit-learn's `clone`, the same embeddings in two fresh
processes, a save / load round trip, a clear error for a foreign file, for use before `fit`, for bad shapes, NaN and
empty input. Each estimator enters as a `Case`: how to build it small, its training data, and what to embed."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    name: str
    setup: str  # Python that defines `est` (unfitted), `fit_args`, `embed` (fitted est -> array), `bad` (name -> args)


CMIRNET = Case(
    "CMIRNetEstimator",
    """
import numpy as np
from rsr_nb.cmirnet.model import CMIRNetEstimator
rng = np.random.default_rng(0)
y = np.repeat(np.arange(3), 10)
xa = rng.normal(size=(30, 12)) + y[:, None]
xb = rng.normal(size=(30, 8)) - y[:, None]
est = CMIRNetEstimator(d_v=8, epochs=3, epochs_stage1=3, feat_dim=16, hidden=32, seed=0)
fit_args = (xa, xb, y)
embed = lambda e: e.transform(xa, "a")
bad = {
    "shape": (xa[:, :, None], xb, y),
    "nan": (np.where(np.eye(30, 12, dtype=bool), np.nan, xa), xb, y),
    "empty": (xa[:0], xb[:0], y[:0]),
}
""",
)

SGCN = Case(
    "SGCNRetriever",
    """
import tempfile
import numpy as np
from rsr_nb.graphs.estimators import SGCNRetriever
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 6)
base = np.where(y[:, None, None, None] == 0, [200, 190, 120], [40, 110, 50])
images = np.clip(base + rng.normal(0, 25, (12, 40, 40, 3)), 0, 255).astype(np.uint8)
est = SGCNRetriever(epochs=3, siamese_epochs=3, pairs_per_epoch=64, n_jobs=1, validation_fraction=0.34,
                    cache_dir=tempfile.mkdtemp())
fit_args = (images, y)
embed = lambda e: e.transform(images)
bad = {
    "shape": (images[..., 0], y),
    "nan": (np.where(np.ones_like(images, bool) & (np.arange(40)[:, None] == 3), np.nan, images.astype(float)), y),
    "empty": (images[:0], y[:0]),
}
""",
)
GCN_MULTILABEL = Case(
    "GCNMultiLabel",
    """
import tempfile
import numpy as np
from rsr_nb.graphs.estimators import GCNMultiLabel
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 6)
labels = np.stack([y == 0, y == 1, np.arange(12) % 2 == 0], 1).astype(np.float32)
base = np.where(y[:, None, None, None] == 0, [200, 190, 120], [40, 110, 50])
images = np.clip(base + rng.normal(0, 25, (12, 40, 40, 3)), 0, 255).astype(np.uint8)
est = GCNMultiLabel(epochs=3, n_jobs=1, validation_fraction=0.34, cache_dir=tempfile.mkdtemp())
fit_args = (images, labels)
embed = lambda e: e.predict_proba(images)
bad = {
    "shape": (images[..., 0], labels),
    "nan": (np.where(np.ones_like(images, bool) & (np.arange(40)[:, None] == 3), np.nan, images.astype(float)), labels),
    "empty": (images[:0], labels[:0]),
}
""",
)
ZSCMR = Case(
    "ZSCMREstimator",
    """
import numpy as np
import torch
from rsr_nb.data.sim.sketch import SketchyTwin
from rsr_nb.zscmr.estimator import ZSCMREstimator
def twin(mod):
    ds = SketchyTwin(mod, n_per_class=5, classes=["cat", "dog", "airplane", "apple"], image_size=32)
    x = torch.stack([ds[i]["image"] for i in range(len(ds))]).permute(0, 2, 3, 1).mul(255).round().byte().numpy()
    return x, np.array([ds.classes[int(c)] for c in ds.labels])
photos, yp = twin("photo")
sketches, ys = twin("sketch")
est = ZSCMREstimator(stage1_epochs=3, epochs=3, backbone_input=32, hidden=64, stage1_hidden=64, d=16)
fit_args = (photos, sketches, yp, ys)
embed = lambda e: e.transform(sketches, "sketch")
bad = {
    "shape": (photos[..., 0], sketches, yp, ys),
    "nan": (np.where(np.arange(32)[:, None] == 3, np.nan, photos.astype(float)), sketches, yp, ys),
    "empty": (photos[:0], sketches, yp[:0], ys),
}
""",
)
FINETUNED = Case(
    "FineTunedCNN",
    """
import tempfile
import numpy as np
from rsr_nb.finetune import FineTunedCNN
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 8)
base = np.where(y[:, None, None, None] == 0, [200, 190, 120], [40, 110, 50])
images = np.clip(base + rng.normal(0, 25, (16, 40, 40, 3)), 0, 255).astype(np.uint8)
est = FineTunedCNN(input_size=32, epochs=2, batch_size=8, validation_fraction=0.25, cache_dir=tempfile.mkdtemp())
fit_args = (images, y)
embed = lambda e: e.transform(images)
bad = {
    "shape": (images[..., 0], y),
    "nan": (np.where(np.ones_like(images, bool) & (np.arange(40)[:, None] == 3), np.nan, images.astype(float)), y),
    "empty": (images[:0], y[:0]),
}
""",
)
FINETUNED_CROSS = Case(
    "FineTunedCrossModal",
    """
import tempfile
import numpy as np
from rsr_nb.finetune import FineTunedCrossModal
rng = np.random.default_rng(0)
y = np.repeat(["field", "town"], 8)
base = np.where(y[:, None, None, None] == "field", [200, 190, 120], [40, 110, 50])
images = np.clip(base + rng.normal(0, 25, (16, 40, 40, 3)), 0, 255).astype(np.uint8)
sketches = 255 - images.mean(-1, keepdims=True).repeat(3, -1).astype(np.uint8)
est = FineTunedCrossModal(input_size=32, epochs=2, batch_size=8, validation_fraction=0.25, cache_dir=tempfile.mkdtemp())
fit_args = (images, sketches, y, y)
embed = lambda e: e.transform(sketches, "sketch")
bad = {
    "shape": (images[..., 0], sketches, y, y),
    "nan": (np.where(np.ones_like(images, bool) & (np.arange(40)[:, None] == 3), np.nan, images.astype(float)),
            sketches, y, y),
    "empty": (images[:0], sketches, y[:0], y),
}
""",
)
CASES = [CMIRNET, SGCN, GCN_MULTILABEL, ZSCMR, FINETUNED, FINETUNED_CROSS]


def _load(case):
    ns = {}
    exec(case.setup, ns)
    return ns


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c.name)
def fitted(request, tmp_path_factory):
    ns = _load(request.param)
    est = clone(ns["est"]).fit(*ns["fit_args"])
    return request.param, ns, est, tmp_path_factory.mktemp(request.param.name)


def test_clone_keeps_the_parameters_and_drops_the_fit(fitted):
    _, ns, est, _ = fitted
    c = clone(est)
    assert c.get_params() == est.get_params()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ns["embed"](c)


def test_same_embeddings_in_two_fresh_processes(fitted):
    case, _, _, tmp = fitted
    script = case.setup + "\nimport sys\nnp.save(sys.argv[1], embed(est.fit(*fit_args)))\n"
    runs = []
    for k in range(2):
        out = tmp / f"run{k}.npy"
        subprocess.run(
            [sys.executable, "-c", script, str(out)],
            cwd=ROOT,
            check=True,
            timeout=600,
            env={**os.environ, "RSR_PROGRESS": "0"},
        )
        runs.append(np.load(out))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_save_load_round_trip(fitted):
    case, ns, est, tmp = fitted
    path = est.save(tmp / "model.pt")
    again = type(est).load(path)
    np.testing.assert_allclose(ns["embed"](again), ns["embed"](est), rtol=0, atol=1e-6)
    assert again.get_params() == est.get_params()


def test_foreign_and_garbage_files_are_clear_errors(fitted):
    case, _, est, tmp = fitted
    foreign = tmp / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match=f"not an? {case.name} file"):
        type(est).load(foreign)
    garbage = tmp / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="weights-only"):
        type(est).load(garbage)


SAYS = {"shape": r"2-D|N x H x W x 3", "nan": "NaN", "empty": "no rows|no images"}  # what each message must name


@pytest.mark.parametrize("kind", ["shape", "nan", "empty"])
def test_bad_input_is_a_clear_error(fitted, kind):
    _, ns, est, _ = fitted
    with pytest.raises(ValueError, match=SAYS[kind]):
        clone(est).fit(*ns["bad"][kind])
