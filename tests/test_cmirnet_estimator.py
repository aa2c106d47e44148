"""CMIRNetEstimator as a scikit-learn user relies on it: the same numbers in every fresh process, clone and
get_params / set_params, labels encoded as scikit-learn does, and clear errors on empty input and foreign files."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from rsr_nb.cmirnet.model import CMIRNetEstimator

SMALL = dict(d_v=4, epochs=3, epochs_stage1=2, feat_dim=8, hidden=16, batch_size=32)


def _pairs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    proto = rng.normal(size=(3, 5))
    return proto[y] + 0.3 * rng.normal(size=(n, 5)), proto[y] @ rng.normal(size=(5, 7)), y


FIT_SCRIPT = textwrap.dedent(
    f"""
    import numpy as np
    from rsr_nb.cmirnet.model import CMIRNetEstimator
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    proto = rng.normal(size=(3, 5))
    xa, xb = proto[y] + 0.3 * rng.normal(size=(60, 5)), proto[y] @ rng.normal(size=(5, 7))
    est = CMIRNetEstimator(**{SMALL!r}, seed=0).fit(xa, xb, y)
    print(np.concatenate([est.transform_a(xa), est.transform_b(xb)]).astype(np.float64).tobytes().hex())
    """
)


def _run_fresh() -> str:
    env = {**os.environ, "RSR_PROGRESS": "0", "PYTHONHASHSEED": "random"}
    out = subprocess.run([sys.executable, "-c", FIT_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_same_embeddings_in_two_fresh_processes():
    first, second = _run_fresh(), _run_fresh()
    assert first and first == second, "CMIRNetEstimator(seed=0) gave different embeddings in two fresh processes"


def test_fit_leaves_the_callers_global_rng_alone():
    xa, xb, y = _pairs()
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    CMIRNetEstimator(**SMALL, validation_fraction=0.2, patience=2).fit(xa, xb, y)
    assert torch.equal(torch.get_rng_state(), torch_state), "fit changed torch's global RNG state"
    after = np.random.get_state()
    assert after[0] == np_state[0] and (after[1] == np_state[1]).all() and after[2:] == np_state[2:]


def test_clone_and_params_round_trip():
    est = CMIRNetEstimator(**SMALL, lambdas=(1.0, 1.0, 0.1, 0.01, 0.01), seed=3)
    params = est.get_params()
    twin = clone(est)
    assert twin.get_params() == params
    assert CMIRNetEstimator().set_params(**params).get_params() == params
    xa, xb, y = _pairs()
    est.fit(xa, xb, y)
    fresh = clone(est)
    assert not hasattr(fresh, "net_"), "clone must give an unfitted estimator"
    fresh.fit(xa, xb, y)
    np.testing.assert_array_equal(fresh.transform_a(xa), est.transform_a(xa))
    np.testing.assert_array_equal(fresh.transform(xb, modality="b"), est.transform_b(xb))


def test_labels_encoded_as_scikit_learn_does():
    xa, xb, y = _pairs()
    names = np.array(["sea", "field", "forest"])[y]
    est = CMIRNetEstimator(**SMALL).fit(xa, xb, names)
    assert list(est.classes_) == ["field", "forest", "sea"]
    assert est.n_classes_ == 3
    two = np.where(y == 0, 7000, 3)
    est = CMIRNetEstimator(**SMALL).fit(xa, xb, two)
    assert list(est.classes_) == [3, 7000]
    assert est.n_classes_ == 2 and est.net_.cls.out_features == 2


def test_empty_and_one_class_input_errors():
    with pytest.raises(ValueError, match="no rows"):
        CMIRNetEstimator(**SMALL).fit(np.empty((0, 5)), np.empty((0, 7)), np.empty(0, dtype=int))
    xa, xb, y = _pairs()
    with pytest.raises(ValueError, match="at least two classes"):
        CMIRNetEstimator(**SMALL).fit(xa, xb, np.full(len(y), 5))


def test_not_fitted_errors():
    for call in (lambda e: e.transform(np.ones((2, 5))), lambda e: e.save("never.pt")):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call(CMIRNetEstimator())


def test_load_refuses_a_foreign_torch_file(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match="not a CMIRNetEstimator file") as e:
        CMIRNetEstimator.load(path)
    assert "KeyError" not in str(e.value)


def test_load_refuses_a_garbage_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a torch file at all" * 10)
    with pytest.raises(ValueError, match="not a CMIRNetEstimator file") as e:
        CMIRNetEstimator.load(path)
    assert "weights_only" not in str(e.value)
    pickled = tmp_path / "pickled.pt"
    torch.save({"params": object}, pickled)  # a file that only unpickles with weights_only=False
    with pytest.raises(ValueError, match="not a CMIRNetEstimator file") as e:
        CMIRNetEstimator.load(pickled)
    assert "weights_only=False" not in str(e.value)
