"""rsr_nb.plots from pytest, headless (Agg): figures, axes, frame colours, legend placement, validation axes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from rsr_nb.plots import (GRID_LEGEND, IRRELEVANT_COLOR, RELEVANT_COLOR, ours_vs_paper, plot_training_curves,
                          retrieval_grid, show_image)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_show_image_takes_tensors_arrays_and_bytes():
    rng = np.random.default_rng(0)
    fig, axs = plt.subplots(1, 4)
    show_image(axs[0], torch.rand(1, 16, 16))
    show_image(axs[1], torch.rand(3, 16, 24))
    show_image(axs[2], (rng.random((16, 16, 3)) * 255).astype(np.uint8))
    show_image(axs[3], rng.random((1, 16, 16)), cmap="viridis")
    assert axs[0].images[0].get_array().shape == (16, 16)
    assert axs[1].images[0].get_array().shape == (16, 24, 3)
    assert axs[2].images[0].get_array().dtype == np.uint8
    assert axs[3].images[0].get_cmap().name == "viridis"
    assert all(len(a.get_xticks()) == 0 and len(a.get_yticks()) == 0 for a in axs)


@pytest.mark.parametrize("bad, message", [
    (np.random.default_rng(0).normal(size=(3, 8, 8)) * 3, "must lie in [0, 1]"),
    (np.zeros((4, 8, 8)), "1 or 3 channels"),
    (np.zeros((2, 2, 8, 8)), "1 or 3 channels"),
    (np.array([["a"] * 4] * 4), "uint8 or float"),
])
def test_show_image_refuses_bad_images(bad, message):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        show_image(ax, bad)


CLASSES = np.array([0, 0, 1, 2, 3, 1, 0, 2])


def _grid(query_ids=(0, 1, 3), ranked=None, **kw):
    ranked = torch.tensor([[0, 1, 6, 2], [2, 5, 0, 3], [4, 3, 7, 1]]) if ranked is None else ranked
    colours = np.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.1
    args = dict(
        relevant=lambda q, g: CLASSES[g] == q,
        draw_query=lambda ax, q: (ax.text(0.5, 0.5, f"'class {q}'", ha="center"), ax.axis("off")),
        draw_item=lambda ax, g: show_image(ax, np.broadcast_to(colours[CLASSES[g]][:, None, None], (3, 8, 8))),
        query_label=lambda q: f"class {q}",
        item_label=lambda g: f"item {g}: buildings, cars, pavement, trees, grass, bare soil",
    )
    args.update(kw)
    return retrieval_grid(list(query_ids), ranked, **args), ranked


def test_retrieval_grid_frames_follow_relevance():
    fig, ranked = _grid()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 5
    axs = np.array(fig.axes).reshape(3, 5)
    assert axs[0, 0].get_title() == "query"
    assert [a.get_title() for a in axs[0, 1:]] == ["#1", "#2", "#3", "#4"]
    for q, row, ax_row in zip((0, 1, 3), ranked.tolist(), axs[:, 1:]):
        for g, ax in zip(row, ax_row):
            rel = CLASSES[g] == q
            want = to_rgba(RELEVANT_COLOR if rel else IRRELEVANT_COLOR)
            assert all(to_rgba(s.get_edgecolor()) == want for s in ax.spines.values())
            assert [t.get_text() for t in ax.texts] == ["✓" if rel else "✗"]
    assert to_rgba(RELEVANT_COLOR)[1] > to_rgba(RELEVANT_COLOR)[0]        # green is green, red is red
    assert to_rgba(IRRELEVANT_COLOR)[0] > to_rgba(IRRELEVANT_COLOR)[1]
    assert GRID_LEGEND in [t.get_text() for t in fig.texts]
    assert axs[1, 0].get_xlabel() == "class 1"
    assert axs[1, 0].axison                                              # a drawer's axis("off") is undone
    assert "\n" in axs[0, 1].get_xlabel()                                # long labels are wrapped


def test_retrieval_grid_one_query_without_labels():
    fig, _ = _grid(query_ids=[2], ranked=np.array([3, 7]), query_label=None, item_label=None)
    assert len(fig.axes) == 3
    assert fig.axes[1].get_xlabel() == ""


def test_retrieval_grid_bad_input():
    with pytest.raises(ValueError, match="ranked must be"):
        _grid(query_ids=(0, 1))
    with pytest.raises(ValueError, match="query_ids is empty"):
        _grid(query_ids=(), ranked=np.zeros((0, 3), dtype=int))
    with pytest.raises(TypeError, match="draw_item must be a function"):
        _grid(draw_item="show_image")
    with pytest.raises(ValueError, match="cell_size"):
        _grid(cell_size=0)


def _curves():
    rows = []
    for seed in (0, 1, 2):
        r = np.random.default_rng(seed)
        for e in range(1, 7):
            rows.append({"stage": "pretrain", "seed": seed, "epoch": e, "ce": 2 / e + r.random() * 0.1})
            row = {"stage": "joint", "seed": seed, "epoch": e, "L2": 5 / e, "L3": 1 + r.random(), "total": 6 / e + 1}
            if e % 3 == 0:
                row["val_mAP"] = 0.5 + 0.05 * e + r.random() * 0.02
                row["val_P@10"] = 0.6 + 0.04 * e
            rows.append(row)
    return pd.DataFrame(rows)


def _legend_clear_of_axes(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = 0
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        legends += 1
        box = leg.get_window_extent(r)
        assert box.x0 >= ax.get_window_extent(r).x1
        for other in fig.axes:       # the twin axis' ticks and label too
            if other is not ax and other.bbox.bounds == ax.bbox.bounds:
                assert box.x0 >= other.get_tightbbox(r).x1 - 1
    return legends


def test_training_curves_panels_bands_val_axis_and_legend():
    fig = plot_training_curves(_curves(), title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3                     # pretrain, joint, joint's validation axis
    pre, joint, val = fig.axes
    assert [pre.get_title(), joint.get_title()] == ["pretrain", "joint"]
    assert [l.get_label() for l in joint.get_lines()] == ["L2", "L3", "total"]
    assert pre.get_yscale() == joint.get_yscale() == "log"
    assert pre.get_xlabel() == joint.get_xlabel() == "epoch"
    assert len(joint.collections) == 3            # ±sd bands over three seeds
    assert [l.get_label() for l in val.get_lines()] == ["mAP (validation)", "P@10 (validation)"]
    assert all(l.get_linestyle() == "--" for l in val.get_lines())
    assert list(val.get_lines()[0].get_xdata()) == [3, 6]
    np.testing.assert_allclose(val.get_lines()[1].get_ydata(), [0.72, 0.84])
    assert val.get_ylabel() == "validation"
    assert _legend_clear_of_axes(fig) == 2
    labels = [t.get_text() for t in joint.get_legend().get_texts()]
    assert labels == ["L2", "L3", "total", "mAP (validation)", "P@10 (validation)"]


def test_training_curves_terms_and_linear_scale():
    fig = plot_training_curves(_curves(), terms={"joint": ["total"]}, log_scale=False)
    assert [l.get_label() for l in fig.axes[1].get_lines()] == ["total"]
    assert [l.get_label() for l in fig.axes[0].get_lines()] == ["ce"]   # stages not in terms: every term
    assert fig.axes[0].get_yscale() == "linear"
    fig = plot_training_curves([{"epoch": e, "loss": 1.0 - e} for e in range(3)])   # a value <= 0: linear
    assert fig.axes[0].get_yscale() == "linear"
    assert len(fig.axes[0].collections) == 0                             # one seed: no band


@pytest.mark.parametrize("curves, terms, error, message", [
    (None, {"joint": ["L9"]}, ValueError, "names \\['L9'\\]"),
    (None, {"stage9": ["L2"]}, ValueError, "does not have"),
    (None, ["L2"], TypeError, "terms must be a dict"),
    ([{"loss": 1.0}], None, ValueError, "'epoch' column"),
    ([], None, ValueError, "empty"),
    (pd.DataFrame(), None, ValueError, "empty"),
    ("curves.csv", None, TypeError, "must be a DataFrame"),
])
def test_training_curves_bad_input(curves, terms, error, message):
    with pytest.raises(error, match=message):
        plot_training_curves(_curves() if curves is None else curves, terms=terms)


def test_ours_vs_paper_pairs_each_compared_row():
    rows = [{"task": t, "method": m, "metric": "mAP@all", "seed": s, "value": base + s,
             "paper": 90.0 if m == "CMIR-NET" else np.nan}
            for t, base in (("Pan->Mul", 80.0), ("Mul->Pan", 70.0)) for m in ("CMIR-NET", "DCMH") for s in (0, 1, 2)]
    rows.append({**rows[0], "metric": "P@10", "paper": 95.0})      # a second metric of one task: its own row, last
    fig = ours_vs_paper(pd.DataFrame(rows))
    assert isinstance(fig, Figure)
    ax, = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Pan->Mul · CMIR-NET · mAP@all", "Mul->Pan · CMIR-NET · mAP@all", "Pan->Mul · CMIR-NET · P@10"]
    widths = [p.get_width() for p in ax.patches]
    assert sorted(widths[:3]) == [71.0, 80.0, 81.0]                  # our means (one seed for P@10)
    assert sorted(widths[3:]) == [90.0, 90.0, 95.0]                  # the paper's numbers; DCMH has none, no row
    errs = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    spans = sorted(tuple(seg[:, 0]) for seg in errs[0].lines[2][0].get_segments())   # mean ± sd, sd = 1 or 0
    assert spans == [(70.0, 72.0), (80.0, 80.0), (80.0, 82.0)]
    with pytest.raises(ValueError, match="no row has a paper number"):
        ours_vs_paper([{**r, "paper": None} for r in rows])
    with pytest.raises(ValueError, match=r"\['metric'\] are not in df"):
        ours_vs_paper([{k: v for k, v in r.items() if k != "metric"} for r in rows])
