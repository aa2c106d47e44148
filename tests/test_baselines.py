"""rsr_nb.baselines: the scikit-learn estimator contract, and the fast solvers against the direct formulations."""
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from scipy.linalg import eigh
from sklearn.base import BaseEstimator, clone
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from rsr_nb.baselines import (BASELINES, CCABaseline, DCMHBaseline, SCMBaseline, SIDHBaseline, _cca_closed_form,
                              make_baseline)

NAMES = list(BASELINES)
FAST = dict(epochs=3)          # the two hashing networks: a few epochs are enough for contract checks


def toy(n=120, da=20, db=9, n_classes=4, multilabel=False, seed=0):
    "Two modalities that share a class signal; labels as class indices or multi-hot rows."
    rng = np.random.default_rng(seed)
    if multilabel:
        lab = (rng.random((n, n_classes)) < 0.3).astype(int)
        lab[np.arange(n), rng.integers(0, n_classes, n)] = 1
        signal = lab @ rng.normal(size=(n_classes, 6))
    else:
        lab = rng.integers(0, n_classes, n)
        signal = rng.normal(size=(n_classes, 6))[lab]
    xa = (signal + 0.5 * rng.normal(size=(n, 6))) @ rng.normal(size=(6, da)) + 0.1 * rng.normal(size=(n, da))
    xb = (signal + 0.5 * rng.normal(size=(n, 6))) @ rng.normal(size=(6, db)) + 0.1 * rng.normal(size=(n, db))
    return xa.astype(np.float32), xb.astype(np.float32), lab


def build(name, code_length=8, seed=0):
    m = make_baseline(name, code_length, seed=seed)
    return m.set_params(**FAST) if "epochs" in m.get_params() else m


def codes(m, xa, xb):
    return m.transform_a(xa), m.transform_b(xb)


# ----- the fast solvers compute what the direct formulations compute -----

@pytest.mark.parametrize("seed", range(6))
def test_cca_closed_form_is_sklearns_cca_limit(seed):
    rng = np.random.default_rng(seed)
    n, p, q = int(rng.integers(80, 400)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    k = int(rng.integers(1, 4))                    # the shared directions, whose correlations are well apart
    z = rng.normal(size=(n, 3)) * [3.0, 1.5, 0.7]
    x = z @ rng.normal(size=(3, p)) + rng.uniform(0.3, 1.0) * rng.normal(size=(n, p)) + rng.normal(size=p)
    y = z @ rng.normal(size=(3, q)) * rng.uniform(0.2, 5, q) + rng.uniform(0.3, 1.0) * rng.normal(size=(n, q))
    (xm, xs, xr), (ym, ys, yr), rho = _cca_closed_form(x, y, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CCA(n_components=k, max_iter=20_000, tol=1e-20).fit(x, y)
    sa, sb = ref.transform(x, y)
    np.testing.assert_allclose(((x - xm) / xs) @ xr, sa, atol=1e-5 * np.abs(sa).max())
    np.testing.assert_allclose(((y - ym) / ys) @ yr, sb, atol=1e-5 * np.abs(sb).max())
    assert np.all(np.diff(rho) <= 1e-12) and 0 <= rho.min() and rho.max() <= 1 + 1e-12


def test_cca_estimator_embeds_like_pca_then_sklearn_cca():
    xa, xb, _ = toy(n=300)
    m = CCABaseline(code_length=4).fit(xa, xb)
    pcs = [PCA(0.999, svd_solver="full").fit_transform((x - mu) / sd)
           for x, mu, sd in ((xa, m.mu_a_, m.sd_a_), (xb, m.mu_b_, m.sd_b_))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CCA(n_components=4, max_iter=20_000, tol=1e-20).fit(*pcs)
    sa, sb = ref.transform(*pcs)
    np.testing.assert_allclose(m.transform_a(xa), sa, atol=1e-4 * np.abs(sa).max())
    np.testing.assert_allclose(m.transform_b(xb), sb, atol=1e-4 * np.abs(sb).max())


def scm_reference(x, y, lab, n_bits, variant, reg):
    "SCM as first written: a generalised eigenproblem of size d_a + d_b (for SCM-Seq: one per bit)."
    lab = lab / (np.linalg.norm(lab, axis=1, keepdims=True) + 1e-12)
    n, da, db = len(x), x.shape[1], y.shape[1]
    b = np.block([[x.T @ x + reg * n * np.eye(da), np.zeros((da, db))],
                  [np.zeros((db, da)), y.T @ y + reg * n * np.eye(db)]])
    cxy = 2 * (x.T @ lab) @ (lab.T @ y) - np.outer(x.sum(0), y.sum(0))
    if variant == "orth":
        vals, vecs = eigh(np.block([[np.zeros((da, da)), cxy], [cxy.T, np.zeros((db, db))]]), b)
        top = vecs[:, np.argsort(vals)[::-1][:n_bits]]
        return top[:da], top[da:]
    cxy = n_bits * cxy
    wa, wb = np.zeros((da, n_bits)), np.zeros((db, n_bits))
    for t in range(n_bits):
        a = np.block([[np.zeros((da, da)), cxy], [cxy.T, np.zeros((db, db))]])
        w = eigh(a, b, subset_by_index=[da + db - 1, da + db - 1])[1][:, 0]
        wa[:, t], wb[:, t] = w[:da], w[da:]
        cxy = cxy - np.outer(x.T @ np.sign(x @ wa[:, t]), y.T @ np.sign(y @ wb[:, t]))
    return wa, wb


@pytest.mark.parametrize("variant", ["orth", "seq"])
@pytest.mark.parametrize("seed", range(4))
def test_scm_matches_the_generalised_eigenproblem(variant, seed):
    rng = np.random.default_rng(seed)
    da, db = int(rng.integers(4, 16)), int(rng.integers(4, 16))
    n_bits = int(rng.integers(2, 6)) if variant == "orth" else int(rng.integers(4, 24))
    xa, xb, lab = toy(n=200, da=da, db=db, multilabel=bool(seed % 2), seed=seed)
    m = SCMBaseline(code_length=n_bits, variant=variant, reg=1e-3).fit(xa, xb, lab)
    x, y = (xa - m.mu_a_) / m.sd_a_, (xb - m.mu_b_) / m.sd_b_
    labm = lab if lab.ndim == 2 else np.eye(lab.max() + 1)[lab]
    wa, wb = scm_reference(x.astype(np.float64), y.astype(np.float64), labm.astype(float), n_bits, variant, 1e-3)
    s = np.sign((wa * m.wa_).sum(0))                   # a bit may be flipped on both sides: same Hamming distances
    np.testing.assert_allclose(m.wa_, wa * s, atol=1e-7 * np.abs(wa).max())
    np.testing.assert_allclose(m.wb_, wb * s, atol=1e-7 * np.abs(wb).max())


# ----- the estimator contract -----

@pytest.mark.parametrize("name", NAMES)
def test_is_a_sklearn_estimator_whose_init_only_stores(name):
    m = make_baseline(name, 16, seed=3)
    assert isinstance(m, BaseEstimator)
    assert vars(m) == m.get_params()                   # nothing else is set before fit
    assert m.get_params()["code_length"] == 16
    assert clone(m).get_params() == m.get_params()
    m2 = clone(m).set_params(**m.get_params())
    assert m2.get_params() == m.get_params()
    assert repr(m).startswith(type(m).__name__ + "(")


def test_registry_holds_classes_or_partials_and_passes_seed():
    for name, entry in BASELINES.items():
        assert isinstance(entry, (type, partial)), name
    assert make_baseline("DCMH", 8, seed=7).seed == 7
    assert make_baseline("SIDH-style", 8, seed=7).seed == 7
    assert make_baseline("SCM-Seq", 8).variant == "seq" and make_baseline("SCM-Orth", 8).variant == "orth"
    assert [make_baseline(n, 8).metric for n in NAMES] == ["euclidean", "hamming", "hamming", "hamming", "hamming"]
    assert CCABaseline.metric == "euclidean" and DCMHBaseline.metric == SIDHBaseline.metric == "hamming"
    with pytest.raises(ValueError, match="unknown baseline 'LSH'"):
        make_baseline("LSH", 8)


@pytest.mark.parametrize("name", NAMES)
def test_transform_before_fit_is_not_fitted_error(name):
    xa, xb, _ = toy()
    for side, x in (("a", xa), ("b", xb)):
        with pytest.raises(NotFittedError, match=r"call fit\(xa, xb, labels\) first"):
            getattr(make_baseline(name, 8), f"transform_{side}")(x)


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_numpy_of_one_type(name):
    xa, xb, y = toy()
    m = build(name).fit(xa, xb, y)
    ea, eb = codes(m, xa, xb)
    want = np.float32 if m.metric == "euclidean" else np.uint8
    for e in (ea, eb):
        assert isinstance(e, np.ndarray) and e.dtype == want and e.shape[0] == len(xa)
    if m.metric == "hamming":
        assert ea.shape[1] == 8 and set(np.unique(np.r_[ea, eb]).tolist()) <= {0, 1}
    assert all(k.endswith("_") for k in vars(m) if k not in m.get_params())


@pytest.mark.parametrize("name", NAMES)
def test_numpy_tensor_float64_and_int_inputs_give_the_same_model(name):
    xa, xb, y = toy()
    xa, xb = np.round(xa * 4), np.round(xb * 4)            # integral values: the int copies are exact
    variants = [(xa, xb, y),
                (xa.astype(np.float64), xb.astype(np.float64), y.astype(np.int32)),
                (torch.from_numpy(xa), torch.from_numpy(xb.astype(np.float64)), torch.from_numpy(y)),
                (xa.astype(np.int64), torch.from_numpy(xb).to(torch.int32), list(y))]
    outs = [codes(build(name).fit(*v), xa, torch.from_numpy(xb)) for v in variants]
    for o in outs[1:]:
        np.testing.assert_array_equal(o[0], outs[0][0])
        np.testing.assert_array_equal(o[1], outs[0][1])


@pytest.mark.parametrize("name", NAMES)
def test_class_names_and_bool_multi_hot_labels(name):
    xa, xb, y = toy()
    names = np.array(["airport", "beach", "city", "dock"])[y]
    a = codes(build(name).fit(xa, xb, names), xa, xb)
    b = codes(build(name).fit(xa, xb, y), xa, xb)
    np.testing.assert_array_equal(a[0], b[0])
    xa, xb, lab = toy(multilabel=True)
    c = codes(build(name).fit(xa, xb, lab.astype(bool)), xa, xb)
    d = codes(build(name).fit(xa, xb, torch.from_numpy(lab).float()), xa, xb)
    np.testing.assert_array_equal(c[0], d[0])


@pytest.mark.parametrize("cls", [DCMHBaseline, SIDHBaseline])
def test_same_seed_same_codes_and_global_rng_untouched(cls):
    xa, xb, y = toy()
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    runs = [codes(cls(code_length=16, epochs=4, seed=s).fit(xa, xb, y), xa, xb) for s in (5, 5, 6)]
    np.testing.assert_array_equal(torch.rand(3), before)    # fit drew from its own stream
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert (runs[0][0] != runs[2][0]).any()


def test_sidh_uses_a_multi_label_head_for_multi_hot_labels():
    xa, xb, lab = toy(multilabel=True, n_classes=5)
    m = SIDHBaseline(code_length=8, epochs=2).fit(xa, xb, lab)
    assert m.cls_.out_features == 5
    assert len(m.history_) == 2


def test_refit_replaces_the_state_and_failed_fit_keeps_it():
    xa, xb, y = toy()
    m = CCABaseline(code_length=3).fit(xa, xb, y)
    w = m.wa_.copy()
    with pytest.raises(ValueError):
        m.fit(xa[:, :5], xb, y[:10])
    np.testing.assert_array_equal(m.wa_, w)
    m.fit(xa[:, :5], xb, y)
    assert m.n_features_a_ == 5 and m.transform_a(xa[:, :5]).shape == (len(xa), 3)


XA, XB, Y = toy(n=40)
BAD_INPUTS = {
    "rows differ": ((XA, XB[:39], Y), ValueError, "xa and xb must be paired row by row, got 40 rows in xa and 39"),
    "nan in xa": ((np.where(np.eye(40, 20) == 1, np.nan, XA), XB, Y), ValueError, "xa contains 20 NaN or infinite"),
    "inf in xb": ((XA, np.where(np.eye(40, 9) == 1, -np.inf, XB), Y), ValueError, "xb contains 9 NaN or infinite"),
    "1-D xa": ((XA[:, 0], XB, Y), ValueError, "xa must be a 2-D array"),
    "3-D xb": ((XA, XB[None], Y), ValueError, "xb must be a 2-D array"),
    "string features": ((XA.astype(str), XB, Y), TypeError, "xa must hold real numbers"),
    "complex tensor": ((XA, torch.ones(40, 9, dtype=torch.complex64), Y), TypeError, "xb must hold real numbers"),
    "multi-hot not 0/1": ((XA, XB, np.full((40, 3), 0.5)), ValueError, "must be 0/1 multi-hot"),
    "fractional indices": ((XA, XB, Y + 0.5), ValueError, "must be class indices"),
    "negative indices": ((XA, XB, Y - 1), ValueError, "must be class indices"),
    "nan labels": ((XA, XB, np.full(40, np.nan)), ValueError, "must be class indices"),
    "3-D labels": ((XA, XB, np.zeros((40, 2, 2))), ValueError, "labels must be 1-D class indices or an N x C"),
    "labels length": ((XA, XB, Y[:-1]), ValueError, "labels has 39 rows but xa and xb have 40"),
    "one pair": ((XA[:1], XB[:1], Y[:1]), ValueError, "needs at least 2 training pairs, got 1"),
    "constant xb": ((XA, np.full((40, 9), 3.0), Y), ValueError, "xb: every feature is constant"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_name_the_argument(name, case):
    args, err, msg = BAD_INPUTS[case]
    with pytest.raises(err, match=msg.replace("(", r"\(")):
        build(name).fit(*args)


BAD_PARAMS = [
    (CCABaseline, dict(code_length=0), ValueError, "code_length must be an integer >= 1, got 0"),
    (CCABaseline, dict(code_length=2.5), TypeError, "code_length must be an integer >= 1"),
    (SCMBaseline, dict(code_length=True), TypeError, "code_length must be an integer"),
    (SCMBaseline, dict(variant="pca"), ValueError, "variant must be 'orth' or 'seq'"),
    (SCMBaseline, dict(reg=-1e-3), ValueError, "reg must be a finite number >= 0"),
    (SCMBaseline, dict(reg=float("nan")), ValueError, "reg must be a finite number"),
    (SCMBaseline, dict(code_length=30, variant="orth"), ValueError, "SCM-Orth gives at most d_a \\+ d_b = 29 bits"),
    (DCMHBaseline, dict(epochs=0), ValueError, "epochs must be an integer >= 1"),
    (DCMHBaseline, dict(batch_size=1), ValueError, "batch_size must be an integer >= 2"),
    (DCMHBaseline, dict(lr=0.0), ValueError, "lr must be a finite number > 0"),
    (DCMHBaseline, dict(gamma=-1), ValueError, "gamma must be a finite number >= 0"),
    (DCMHBaseline, dict(eta="big"), TypeError, "eta must be a number"),
    (SIDHBaseline, dict(seed=-2), ValueError, "seed must be an integer >= 0"),
    (SIDHBaseline, dict(seed=1.0), TypeError, "seed must be an integer"),
]


@pytest.mark.parametrize("cls,params,err,msg", BAD_PARAMS)
def test_bad_parameters_fail_in_fit_not_init(cls, params, err, msg):
    m = cls(**params)                                          # __init__ accepts anything, as scikit-learn asks
    with pytest.raises(err, match=f"{cls.__name__}: {msg}"):
        m.fit(XA, XB, Y)


@pytest.mark.parametrize("name", NAMES)
def test_transform_checks_width_and_values(name):
    m = build(name).fit(XA, XB, Y)
    with pytest.raises(ValueError, match="x has 9 features per row, but the baseline was fitted on 20"):
        m.transform_a(XB)
    with pytest.raises(ValueError, match="x has 20 features per row, but the baseline was fitted on 9"):
        m.transform_b(XA)
    with pytest.raises(ValueError, match="x must be a 2-D array"):
        m.transform_a(XA[0])
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        m.transform_b(np.where(np.eye(3, 9) * np.arange(3)[:, None] == 1, np.nan, XB[:3]))


@pytest.mark.parametrize("name", NAMES[1:])
def test_label_learners_need_labels(name):
    with pytest.raises(ValueError, match=r"learns from the labels: call fit\(xa, xb, labels\)"):
        build(name).fit(XA, XB)


def test_cca_needs_no_labels_and_ignores_them():
    a = CCABaseline(code_length=3).fit(XA, XB)
    b = CCABaseline(code_length=3).fit(XA, XB, Y)
    np.testing.assert_array_equal(a.transform_a(XA), b.transform_a(XA))


@pytest.mark.parametrize("name", ["CCA", "SCM-Seq", "DCMH"])
def test_fit_runs_on_one_thread_whatever_the_caller_set_and_restores_it(name):
    n = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append(codes(build(name).fit(XA, XB, Y), XA, XB))
            assert torch.get_num_threads() == threads
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
    finally:
        torch.set_num_threads(n)
