"""Zero-shot guards (issue 25, points 2, 4, 5 and 7): what each fit actually receives, one loss weight per term, the
ImageNet-1k overlap of the unseen classes, and the aerial verdict by the project's one rule.

The leak tests spy on the training entry points where the pipeline looks them up (stage 1 and its training loop,
stage 2's training loop, SAE.fit, ITQ.fit, the class-graph builder), run the pipelines on the Sketchy twin and on the
aerial twin with tiny settings, and identify every row a fit receives: backbone features and stage-1 features by exact
match to an item's row, ZSCMR embeddings (ITQ's input) by the nearest item, word vectors by the nearest class. So
they check the inputs themselves, not a split recorded beside them."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import cdist

import rsr_nb.zscmr.aerial as A
import rsr_nb.zscmr.model as M
import rsr_nb.zscmr.pipelines as P
from test_run_notebooks import TINY_AERIAL, TINY_ZSCMR

ROOT = Path(__file__).resolve().parents[1]
TERMS = ("cmd", "triplet", "rcs", "cls")


def _np(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


class Rows:
    "Which item (and so which class) each row of a matrix is: the nearest row of `table`, within `tol` x its scale."

    def __init__(self, table, labels, tol: float = 0.0):
        self.table, self.labels = _np(table), np.asarray(labels)
        self.tol = tol * max(1.0, float(np.abs(self.table).max()))

    def classes(self, rows) -> np.ndarray:
        d = cdist(_np(rows), self.table, "sqeuclidean")
        j = d.argmin(1)
        far = np.sqrt(d[np.arange(len(j)), j]).max(initial=0.0)
        assert far <= self.tol, f"a fit received a row that is no item's (nearest item {far:.3g} away)"
        return self.labels[j]


class Call:
    "Everything the fits of one `zero_shot_embeddings` call received."

    def __init__(self, data, seen, unseen, variants, params):
        self.data, self.seen, self.unseen, self.variants, self.params = data, seen, unseen, variants, params
        unit = _np(data.vectors.vectors)
        unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)  # not in place: the data's own array stays as it is
        self.vectors = Rows(unit, np.arange(len(data.classes)), tol=1e-5)
        self.backbone = {
            "image": Rows(data.image_features, data.image_labels),
            "sketch": Rows(data.sketch_features, data.sketch_labels),
        }
        for m, r in self.backbone.items():  # an item is identified by its features: they must be distinct
            assert len(np.unique(r.table, axis=0)) == len(r.table), f"duplicate {m} features: rows are ambiguous"
        self.got = defaultdict(set)  # (entry point, modality or variant) -> class indices it received
        self.stage1, self.models, self.weights, self.misaligned = {}, {}, defaultdict(set), set()
        self.graph, self.main_model, self.modality = None, None, None

    def index(self, names) -> list:
        return [self.data.classes.index(c) for c in names]


CALLS: list[Call] = []


@pytest.fixture
def spies(monkeypatch):
    "Spy on every fit of the zero-shot pipelines; returns the list of `Call`s, one per zero_shot_embeddings call."
    CALLS.clear()
    real = {k: getattr(P, k) for k in ("zero_shot_embeddings", "stage1_features", "fit", "class_graph")}
    real_model_fit, real_losses = M.fit, M.ZSCMR.losses

    def zero_shot_embeddings(data, seen, unseen, variants, params, *a, **k):
        CALLS.append(Call(data, tuple(seen), tuple(unseen), variants, params))
        return real["zero_shot_embeddings"](data, seen, unseen, variants, params, *a, **k)

    def stage1_features(features, labels, train, *a, **k):
        c = CALLS[-1]
        c.modality = m = "image" if "image" in k.get("desc", "") else "sketch"
        c.got["stage 1 items", m] |= set(_np(labels[torch.as_tensor(np.asarray(train))]).astype(int).tolist())
        out, hist = real["stage1_features"](features, labels, train, *a, **k)
        c.stage1[m] = out
        return out, hist

    def stage1_fit(modules, loss_fn, batches, epochs, **k):  # stage 1's training loop: the batches it trains on
        c = CALLS[-1]
        m = c.modality

        def spied(epoch):
            for x, y in batches(epoch):
                c.got["stage 1 batches", m] |= set(c.backbone[m].classes(x).tolist())
                yield x, y

        return real["fit"](modules, loss_fn, spied, epochs, **k)

    def class_graph(vectors, *a, **k):
        CALLS[-1].graph = CALLS[-1].vectors.classes(vectors).tolist()
        return real["class_graph"](vectors, *a, **k)

    def stage2_fit(modules, loss_fn, batches, epochs, **k):  # stage 2's training loop, one call per variant
        c, model, name = CALLS[-1], modules[0], k["desc"]
        s1 = {m: Rows(c.stage1[m], getattr(c.data, f"{m}_labels")) for m in ("image", "sketch")}
        z = c.vectors.classes(model.z)  # the class of each row of Z
        # the model itself is kept, so that no later model can take its id while the weights are recorded by id
        c.models[name] = {"z": z.tolist(), "n_seen": model.n_seen, "graph": c.graph, "id": id(model), "model": model}
        c.graph, c.main_model = None, model if c.main_model is None else c.main_model

        def spied(epoch):
            for xa, ya, xb, yb in batches(epoch):
                ca, cb = s1["image"].classes(xa), s1["sketch"].classes(xb)
                c.got["stage 2 images", name] |= set(ca.tolist())
                c.got["stage 2 sketches", name] |= set(cb.tolist())
                if not ((z[ya.cpu().numpy()] == ca).all() and (z[yb.cpu().numpy()] == cb).all()):
                    c.misaligned.add(name)  # a label's row of Z is not the item's own class
                yield xa, ya, xb, yb

        return real_model_fit(modules, loss_fn, spied, epochs, **k)

    def losses(self, xa, ya, xb, yb, weights=M.LossWeights(), margin=1.0):
        for c in CALLS[-1:]:
            c.weights[id(self)].add(weights)
        return real_losses(self, xa, ya, xb, yb, weights, margin)

    class SpySAE(P.SAE):
        def fit(self, X, S):
            c = CALLS[-1]
            table = np.concatenate([_np(c.stage1["image"]), _np(c.stage1["sketch"])])
            labels = np.concatenate([_np(c.data.image_labels), _np(c.data.sketch_labels)]).astype(int)
            modality = np.array(["image"] * len(c.stage1["image"]) + ["sketch"] * len(c.stage1["sketch"]))
            items = Rows(table, np.arange(len(table)))
            i = items.classes(X)
            for m in set(modality[i]):
                c.got["SAE", m] |= set(labels[i][modality[i] == m].tolist())
            if not (c.vectors.classes(S) == labels[i]).all():
                c.misaligned.add("SAE")  # the word vector given with an item is not its class's
            return super().fit(X, S)

    class SpyITQ(P.ITQ):
        def fit(self, X, y=None):
            c = CALLS[-1]
            model = c.main_model
            emb = torch.cat([model.embed(c.stage1["image"], "image"), model.embed(c.stage1["sketch"], "sketch")])
            labels = np.concatenate([_np(c.data.image_labels), _np(c.data.sketch_labels)]).astype(int)
            c.got["ITQ", "both"] |= set(Rows(emb, labels, tol=1e-4).classes(X).tolist())
            return super().fit(X, y)

    monkeypatch.setattr(P, "zero_shot_embeddings", zero_shot_embeddings)
    monkeypatch.setattr(A, "zero_shot_embeddings", zero_shot_embeddings)
    monkeypatch.setattr(P, "stage1_features", stage1_features)
    monkeypatch.setattr(P, "fit", stage1_fit)
    monkeypatch.setattr(P, "class_graph", class_graph)
    monkeypatch.setattr(M, "fit", stage2_fit)
    monkeypatch.setattr(M.ZSCMR, "losses", losses)
    monkeypatch.setattr(P, "SAE", SpySAE)
    monkeypatch.setattr(P, "ITQ", SpyITQ)
    return CALLS


def check_call(c: Call) -> dict:
    """Assert that only seen classes reached each fit, as documented; return what each fit received by class name.

    Stage 1 and SAE: every seen item of their modality (the aerial extra image classes included). Stage 2, its class
    graph and ITQ: the seen classes that have both images and sketches ("both"). Rows of Z: those classes, then, in
    the transductive variant only, the unseen classes' word vectors (their names; none of their items)."""
    S, U = set(c.index(c.seen)), c.index(c.unseen)
    ya, yb = _np(c.data.image_labels).astype(int), _np(c.data.sketch_labels).astype(int)
    have = {"image": S & set(ya.tolist()), "sketch": S & set(yb.tolist())}
    both = [k for k in c.index(c.seen) if k in have["image"] and k in have["sketch"]]
    assert U and both and not S & set(U)
    for m in ("image", "sketch"):
        assert c.got["stage 1 items", m] == have[m], (m, "stage 1")
        assert c.got["stage 1 batches", m] and c.got["stage 1 batches", m] <= have[m], (m, "stage 1 batches")
        assert c.got["SAE", m] == have[m], (m, "SAE")
    assert not c.misaligned, c.misaligned
    assert set(c.models) == set(c.variants)
    for name, v in c.variants.items():
        info = c.models[name]
        assert c.got["stage 2 images", name] and c.got["stage 2 images", name] <= set(both), name
        assert c.got["stage 2 sketches", name] and c.got["stage 2 sketches", name] <= set(both), name
        rows = both + U if v.graph == "seen+unseen" else both
        assert info["z"] == rows and info["n_seen"] == len(both), (name, info["z"], rows)
        assert info["graph"] == (rows if v.semantic == "gcn" else None), (name, info["graph"], rows)
        assert c.weights[info["id"]] == {v.weights}, (name, c.weights[info["id"]], v.weights)
    if c.params.itq_bits:
        assert c.got["ITQ", "both"] == set(both), ("ITQ", c.got["ITQ", "both"], both)
    name = lambda ks: sorted(c.data.classes[k] for k in ks)
    return {k: name(v) for k, v in c.got.items()}


def test_zero_shot_fits_receive_seen_classes_only_on_the_sketchy_twin(spies):
    "Stage 1 (inputs and batches), every stage-2 variant, its Z rows and class graph, SAE and ITQ: seen classes only."
    cfg = P.ZSCMRExperiment(**{**TINY_ZSCMR, "ablation": True, "seeds": [0]})
    run = P.run_zscmr(cfg, P.load_sketch_data(cfg, show_progress=False), show_progress=False)
    assert len(spies) == 1 and run.rows
    c = spies[0]
    assert {"ZSCMR (with graph)", "ZSCMR (seen+unseen graph, transductive)"} <= set(c.variants)
    check_call(c)


@pytest.mark.parametrize("extra", [False, True])
def test_zero_shot_fits_receive_seen_classes_only_on_the_aerial_twin(spies, extra):
    """Every split of the aerial twin, with and without the extra seen image classes; with them, those classes reach
    the image side's stage 1 and SAE, and nothing else (what the aerial notebook says)."""
    cfg = A.AerialExperiment(**{**TINY_AERIAL, "extra_seen_images": extra, "graph": "seen+unseen", "ablation": True})
    run, datas = A.run_aerial(cfg, show_progress=False)
    assert len(spies) == cfg.splits and run.rows
    for c in spies:
        got = check_call(c)
        extra_classes = set(c.data.classes) - set(A.SKETCHED)
        assert bool(extra_classes) == extra
        reached = {k for k, v in got.items() if extra_classes & set(v)}
        assert reached == ({("stage 1 items", "image"), ("stage 1 batches", "image"), ("SAE", "image")} if extra
                           else set()), reached


@pytest.mark.parametrize("extra", [False, True])
def test_finetuned_towers_train_on_seen_sketched_classes_only(monkeypatch, extra):
    """Today's baseline on the aerial twin: each fit of the fine-tuned towers receives every image and sketch of the
    split's seen sketched classes, with their true labels, and nothing of the unseen (or extra image-only) classes.
    Items are identified by their pixels against the dataset, not by the labels the fit was given."""
    from rsr_nb.data.sources import dataset_items, image_source
    from rsr_nb.finetune import FineTunedCrossModal

    calls, real_fit = [], FineTunedCrossModal.fit

    def fit(self, images, sketches, **kw):
        calls.append((image_source(images), image_source(sketches)))
        return real_fit(self, images, sketches, **kw)

    monkeypatch.setattr(FineTunedCrossModal, "fit", fit)
    cfg = A.AerialExperiment(**{**TINY_AERIAL, "extra_seen_images": extra, "seeds": [0, 1]})
    run, datas = A.run_aerial(cfg, show_progress=False)
    data = datas["glove"]
    splits = [s for s in A.leave_two_out_splits()[: cfg.splits] for _ in cfg.seeds]
    assert len(calls) == len(splits), "one fit per split and seed, shared by the word-vector sets"
    truth = {}
    for side, ds, labels in (("image", data.images, data.image_labels), ("sketch", data.sketches, data.sketch_labels)):
        truth[side] = {np.ascontiguousarray(x).tobytes(): data.classes[int(y)]
                       for x, y in zip(dataset_items(ds), labels)}
    for (img, sk), (seen, unseen) in zip(calls, splits):
        for side, src in (("image", img), ("sketch", sk)):
            true = [truth[side][np.ascontiguousarray(x).tobytes()] for x in src.items]
            given = [src.classes[int(y)] for y in src.labels]
            assert true == given, f"{side}: an item was given another class's label"
            assert set(true) == set(seen), (side, sorted(set(true)), seen)
            expected = sum(c in seen for c in truth[side].values())
            assert len(true) == expected, f"{side}: {len(true)} items given, the seen classes have {expected}"
    rows = pd.DataFrame(run.rows)
    assert (rows.method == A.FINETUNED_CROSS).any()


def _markdown(nb: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown")


def test_aerial_notebook_names_every_fit_the_extra_image_classes_reach():
    "Point 7: the extra seen image classes fit the image side's stage 1 *and* SAE's image map (the spy test above)."
    text = " ".join(_markdown(ROOT / "nbs" / "zscmr" / "23e_zscmr.aerial.ipynb").split())
    said = text[text.index("(`extra_seen_images`)") :].split(". ")[0]
    assert "stage-1 classifier" in said and "SAE" in said and "only" not in said.split("SAE")[0], said


# ---- loss weights (point 2: "two ZSCMR loss weights swapped") ----

def _model_and_batch():
    torch.manual_seed(0)
    m = M.ZSCMR(6, 7, torch.randn(4, 5), n_seen=3, d=8, hidden=16, adjacency=torch.eye(4)).eval()  # eval: no dropout
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    return m, torch.randn(6, 6), y, torch.randn(6, 7), y.flip(0)


def test_each_loss_term_is_the_one_its_weight_names():
    "Each term of ZSCMR.losses, recomputed from the model's parts with the function of the thesis' term it is named by."
    m, xa, ya, xb, yb = _model_and_batch()
    ha, hb, sem = m.f_a(xa), m.f_b(xb), m.f_z(m.z)
    ref = {
        "cmd": M.latent_loss(emb_a=ha, emb_b=hb, sem_a=sem[ya], sem_b=sem[yb]),
        "triplet": M.cross_modal_triplet_loss(emb_a=ha, labels_a=ya, emb_b=hb, labels_b=yb),
        "rcs": M.reconstruction_loss(a_to_b=m.g_ab(ha), emb_b=hb, b_to_a=m.g_ba(hb), emb_a=ha),
        "cls": M.classification_loss(logits_a=m.classifier(ha), labels_a=ya, logits_b=m.classifier(hb), labels_b=yb),
    }
    vals = [float(v.detach()) for v in ref.values()]
    assert min(abs(a - b) for i, a in enumerate(vals) for b in vals[i + 1 :]) > 1e-3  # a swap would show
    terms = m.losses(xa, ya, xb, yb)
    for k in TERMS:
        torch.testing.assert_close(terms[k], ref[k])


def test_changing_one_loss_weight_moves_only_its_own_term():
    "Weight k from 1 to 3 adds exactly 2 x term k to the total; weight k alone gives exactly weight x term k."
    m, xa, ya, xb, yb = _model_and_batch()
    base = m.losses(xa, ya, xb, yb, M.LossWeights())
    for k in TERMS:
        moved = m.losses(xa, ya, xb, yb, M.LossWeights(**{t: 3.0 if t == k else 1.0 for t in TERMS}))
        torch.testing.assert_close(moved["total"] - base["total"], 2 * base[k])
        for t in TERMS:
            torch.testing.assert_close(moved[t], base[t])  # the terms themselves do not depend on the weights
        alone = m.losses(xa, ya, xb, yb, M.LossWeights(**{t: 2.5 if t == k else 0.0 for t in TERMS}))
        torch.testing.assert_close(alone["total"], 2.5 * base[k])


@pytest.mark.parametrize("cls", [P.ZSCMRExperiment, A.AerialExperiment])
def test_each_run_parameter_sets_its_own_loss_weight(cls):
    fields = {"w_cmd": "cmd", "w_triplet": "triplet", "w_rcs": "rcs", "w_class": "cls"}
    for param, field in fields.items():
        w = cls(**{param: 2.5}).loss_weights()
        assert {t: getattr(w, t) for t in TERMS} == {t: 2.5 if t == field else 1.0 for t in TERMS}, param


def test_each_ablation_row_drops_the_term_it_names():
    "The thesis' names of the terms: L_cmd, L_3lt, L_rcs, L_class; each ablation row zeroes its own and keeps the rest."
    main = M.LossWeights(cmd=1.5, triplet=2.0, rcs=3.0, cls=4.0)
    v = P.zscmr_variants("seen", main, ablation=True)
    for label, field in {"L_cmd": "cmd", "L_3lt": "triplet", "L_rcs": "rcs", "L_class": "cls"}.items():
        w = v[f"ZSCMR without graph, without {label}"].weights
        assert {t: getattr(w, t) for t in TERMS} == {t: 0.0 if t == field else getattr(main, t) for t in TERMS}


def test_train_zscmr_trains_with_the_weights_it_is_given(monkeypatch):
    seen, real = set(), M.ZSCMR.losses
    monkeypatch.setattr(M.ZSCMR, "losses", lambda self, *a, **k: seen.add(a[4]) or real(self, *a, **k))
    m, xa, ya, xb, yb = _model_and_batch()
    w = M.LossWeights(cmd=1.0, triplet=2.0, rcs=3.0, cls=4.0)
    M.train_zscmr(m, xa, ya, xb, ya, w, epochs=1, device="cpu", show_progress=False, per_class=2)
    assert seen == {w}


# ---- point 4: the ImageNet-1k overlap ----

def test_protocols_shows_the_computed_imagenet_overlap_of_every_split():
    from rsr_nb.zscmr.report import imagenet_overlap_table

    table = imagenet_overlap_table()
    text = _markdown(ROOT / "nbs" / "protocols.ipynb")
    assert table in text, "nbs/protocols.ipynb: paste rsr_nb.zscmr.report.imagenet_overlap_table()'s output"
    assert "the backbone sees seen classes only" not in text
    for split in ("`sem-pcyc`", "`eccv18`", "`zscmr-code`", "leave-2-out"):
        assert split in table
    assert "airplane (airliner, warplane)" in table  # the aerial classes' one overlap


def test_reports_carry_the_imagenet_caveat():
    from rsr_nb.data.sketch import zero_shot_split
    from rsr_nb.zscmr.report import imagenet_overlap, zscmr_section

    unseen = zero_shot_split("sketchy", "sem-pcyc")[1]
    rows = [{"method": m, "task": "Sketch->Image", "metric": "mAP@all", "protocol": "standard", "value": v,
             "paper": None, "seed": s, "split": "sem-pcyc"}
            for s in (0, 1) for m, v in (("ZSCMR (with graph)", 10 + s), ("ZSCMR (without graph)", 9))]
    run = {"rows": rows, "params": {"dataset": "sketchy", "split": "sem-pcyc"}, "command": "papermill ...",
           "dataset": {"source": "real", "unseen": list(unseen)}, "versions": {}, "seeds": [0, 1], "wall_time_s": 60.0}
    text = zscmr_section({"zscmr_sketchy": run})
    overlap = imagenet_overlap(unseen)
    assert overlap and f"which has {len(overlap)} of the {len(unseen)} unseen classes" in text
    assert all(f"{c} ({', '.join(v)})" in text for c, v in overlap.items())
    aerial = A.aerial_section({"zscmr_aerial": {**run, "rows": [{**r, "split": 0, "unseen": "a+b",
                                                                  "word_vectors": "glove"} for r in rows],
                                                "params": {"extra_seen_images": False}}})
    assert "airplane (airliner, warplane)" in aerial


# ---- point 5: the aerial verdict by report.beats ----

def _aerial_frame(per_split: dict, noise: float) -> pd.DataFrame:
    "ZSCMR minus ImageNet features of `per_split[s]` in split s, +- noise across 3 seeds."
    rows = []
    for s, d in per_split.items():
        for seed in (0, 1, 2):
            for m, v in (("ZSCMR (with graph)", 60 + d + noise * (seed - 1)), ("ImageNet features (no training)", 60)):
                rows.append({"method": m, "task": "Sketch->Image", "metric": "mAP@all", "value": v, "seed": seed,
                             "split": s, "unseen": f"pair{s}", "word_vectors": "glove", "protocol": "standard",
                             "paper": None})
    return pd.DataFrame(rows)


def test_aerial_verdict_says_no_measurable_difference_where_the_interval_covers_zero():
    "The old rule (mean above 0 and ahead in more than half the splits) said 'beats' here; the interval covers 0."
    df = _aerial_frame({s: 1.0 if s < 7 else -2.0 for s in range(10)}, noise=3.0)
    d = df.pivot_table(index=["split", "seed"], columns="method", values="value")
    diff = d["ZSCMR (with graph)"] - d["ImageNet features (no training)"]
    assert diff.mean() > 0 and (diff.groupby(level="split").mean() > 0).sum() > 5  # the old rule's 'beats'
    from rsr_nb.report import paired_interval

    _, lo, hi = paired_interval(diff)
    assert lo < 0 < hi
    (line,) = A.aerial_verdict(df)
    assert "no measurable difference" in line and "beats" not in line, line
    (line,) = A.aerial_verdict(_aerial_frame({s: 5.0 for s in range(10)}, noise=1.0))
    assert ", held: " in line, line


def test_aerial_verdict_lines_are_read_by_the_findings_parser():
    "README's findings table reads RESULTS.md's claim lines with report._CLAIM: each aerial verdict line must match."
    from rsr_nb.report import _CLAIM

    df = pd.concat([_aerial_frame({s: 1.0 if s < 7 else -2.0 for s in range(10)}, 3.0),
                    _aerial_frame({s: 5.0 for s in range(10)}, 1.0).assign(word_vectors="released")])
    lines = A.aerial_verdict(df)
    assert len(lines) == 2
    for line in lines:
        m = _CLAIM.match(f"- {line}.")
        assert m and m["rival"] == "ImageNet features (no training)" and m["metric"] == "mAP@all", line
        assert m["verdict"] in line.split(":")[0]
    # today's fine-tuned baseline is a rival with parentheses and a comma in its name: it must parse too
    ft = df.replace({"method": {"ImageNet features (no training)": A.FINETUNED_CROSS}})
    for line in A.aerial_verdict(ft, rival=A.FINETUNED_CROSS):
        m = _CLAIM.match(f"- {line}.")
        assert m and m["rival"] == A.FINETUNED_CROSS, line
