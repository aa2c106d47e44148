"""Time README's first command, `papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 64`, step by step: the same library
calls on the same defaults (twin, 1 seed, every baseline), without the notebook's kernel start, imports and figures.
Prints one line per step, the total, and mAP@all (mean ± sd over the seeds) of the rows a what-if can move; nothing
asserted (the papermill command adds what the script leaves out: see benchmarks/README.md).

    OMP_NUM_THREADS=2 python benchmarks/bench_run_dsrsid.py [--threads 2] [--no-baselines] [--seeds 0 1 2]
        [--pan-stem-stride 1] [--pan-width 16] [--mul-stem-stride 2] [--epochs-stage1 10] [--pan-epochs 8 --pan-lr 2e-3]
        [--pan-space-to-depth]

What-ifs (compare their mAPs with the default run's, on the same seeds, before adopting one):
`--pan-stem-stride 1` is the full-resolution first block the library's PAN CNN had before its strided stem;
`--pan-width` a narrower PAN CNN (the library's has width 32); `--mul-stem-stride 2` a strided stem for the MUL CNN
too; `--epochs-stage1` fewer stage-1 epochs for both modalities (the notebook's parameter, default 15);
`--pan-epochs` and `--pan-lr` fewer epochs and another learning rate for the PAN CNN only (the library's are 15 and
`train_stage1`'s default, 1e-3); `--pan-space-to-depth` cuts each PAN tile into 4 x 4 blocks stacked as 16 channels on
MUL's grid (`nn.PixelUnshuffle(4)`, as space-to-depth stems do) and gives it the MUL CNN's shape, at about a tenth
of the PAN CNN's work.
"""

import argparse
import inspect
import os
import time

import pandas as pd
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--pan-width", type=int, default=0, help="what-if: width of the PAN CNN (0: the library's)")
    ap.add_argument("--pan-stem-stride", type=int, default=0, help="what-if: PAN CNN stem stride (0: the library's)")
    ap.add_argument("--mul-stem-stride", type=int, default=0, help="what-if: MUL CNN stem stride (0: the library's)")
    ap.add_argument("--epochs-stage1", type=int, default=0, help="what-if: stage-1 epochs (0: the notebook's)")
    ap.add_argument("--pan-epochs", type=int, default=0, help="what-if: stage-1 epochs of the PAN CNN only")
    ap.add_argument("--pan-lr", type=float, default=0.0, help="what-if: stage-1 learning rate of the PAN CNN only")
    ap.add_argument("--pan-space-to-depth", action="store_true", help="what-if: PAN as 16 channels on MUL's grid")
    a = ap.parse_args()
    os.environ.setdefault("RSR_PROGRESS", "0")
    torch.set_num_threads(a.threads)
    from rsr_nb.backbones import SmallCNN
    from rsr_nb.cmirnet import pipelines
    from rsr_nb.cmirnet.pipelines import DSRSIDExperiment, load_dsrsid, run_dsrsid

    class SpaceToDepth(torch.nn.Module):  # what-if: PAN tiles as 16 channels on MUL's grid, then a MUL-shaped CNN
        def __init__(self, in_channels, input_size, feat_dim):
            super().__init__()
            self.in_channels, self.feat_dim = in_channels, feat_dim
            self.unshuffle = torch.nn.PixelUnshuffle(4)
            self.cnn = SmallCNN(16 * in_channels, input_size // 4, feat_dim)

        def forward(self, x):
            return self.cnn(self.unshuffle(x))

    def cnn(in_channels, input_size, feat_dim=128, width=32, stem_stride=1):  # the library's choice, or the what-if
        if in_channels == 1 and a.pan_space_to_depth:
            used["PAN"] = f"space-to-depth (16 x {input_size // 4} x {input_size // 4}), then width {width}, stride 1"
            return SpaceToDepth(in_channels, input_size, feat_dim)
        if in_channels == 1:  # the PAN CNN
            width, stem_stride = a.pan_width or width, a.pan_stem_stride or stem_stride
        else:
            stem_stride = a.mul_stem_stride or stem_stride
        used[("PAN" if in_channels == 1 else "MUL")] = f"width {width}, stem stride {stem_stride}"
        return SmallCNN(in_channels, input_size, feat_dim, width=width, stem_stride=stem_stride)

    def stage1(encoder, *args, **kwargs):  # the library's stage-1 training, or the PAN-only what-if
        if getattr(encoder, "in_channels", None) == 1:  # the PAN CNN
            kwargs["epochs"] = a.pan_epochs or kwargs["epochs"]
            kwargs["lr"] = a.pan_lr or kwargs.get("lr", inspect.signature(train_stage1).parameters["lr"].default)
            used["PAN"] += f", {kwargs['epochs']} epochs at lr {kwargs['lr']:g}"
        return train_stage1(encoder, *args, **kwargs)

    used = {}
    train_stage1 = pipelines.train_stage1
    pipelines.SmallCNN = cnn
    pipelines.train_stage1 = stage1
    options = {"seeds": a.seeds, **({"baselines": []} if a.no_baselines else {})}
    if a.epochs_stage1:
        options["epochs_stage1"] = a.epochs_stage1
    cfg = DSRSIDExperiment(d_v=64, show_figures=False, **options)
    t0 = time.perf_counter()
    data = load_dsrsid(cfg)
    steps = {"render the twin (800 pairs)": time.perf_counter() - t0}
    run = run_dsrsid(cfg, data)
    steps.update(run.timings)
    total = time.perf_counter() - t0
    for k, v in steps.items():
        print(f"{k:32s} {v:7.1f} s")
    print(f"{'total (without the notebook)':32s} {total:7.1f} s   threads={a.threads} seeds={a.seeds}")
    print("CNNs:", "; ".join(f"{k} {v}" for k, v in used.items()), f"; stage-1 epochs {cfg.epochs_stage1}")
    rows = pd.DataFrame(run.rows)
    rows = rows[rows.metric == "mAP@all"]
    table = rows.groupby(["method", "task"], sort=False).value.agg(["mean", "std"]).unstack("task")
    cells = table["mean"].round(1).astype(str) + " ± " + table["std"].fillna(0).round(1).astype(str)
    print("mAP@all %, DSRSID twin (simulated), d_v = 64, mean ± sd over the seeds:")
    print(cells.to_string())


if __name__ == "__main__":
    main()
