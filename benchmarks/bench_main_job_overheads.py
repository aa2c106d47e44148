"""The parts of the main job's time that README's Benchmarks section explains beyond the library's own steps
(`bench_run_dsrsid.py` times those): how fast the PAN CNN's convolutions run on this machine, with the backends and
layouts PyTorch offers, and what papermill and the Jupyter kernel cost around the notebook. Prints figures; asserts
nothing.

    python benchmarks/bench_main_job_overheads.py [--threads 2] [--reps 10]
"""
import argparse
import re
import subprocess
import sys
import time
import warnings

import torch
from torch import nn

# (in channels, out channels, input side, stride) of the library's PAN CNN on 64 x 64 tiles, strided stem
PAN_CONVS = [(1, 32, 64, 2), (32, 64, 32, 1), (64, 128, 16, 1), (128, 128, 8, 1), (128, 128, 4, 1)]
LIBS = "import torch, sklearn, pandas, matplotlib.pyplot"


def conv_speed(cin, cout, side, stride, channels_last, reps, batch=64):
    "GFLOP/s of one 3x3 convolution, forward and backward, on a batch of `batch` tiles (the stage-1 batch size)."
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    x = torch.randn(batch, cin, side, side)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(cin > 1)  # the first layer's input needs no gradient, as in training
    for _ in range(2):
        conv(x).sum().backward()
    t = time.perf_counter()
    for _ in range(reps):
        y = conv(x)
    fwd = (time.perf_counter() - t) / reps
    g = torch.randn_like(y)
    t = time.perf_counter()
    for _ in range(reps):
        conv(x).backward(g)
    bwd = (time.perf_counter() - t) / reps - fwd
    flop = 2 * batch * (side // stride) ** 2 * cout * cin * 9
    return flop / fwd / 1e9, (2 if cin > 1 else 1) * flop / bwd / 1e9


def seconds(code):
    "Wall time of `python -c code`, start to exit."
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def kernel_shutdown(code):
    "Seconds a Jupyter kernel takes to shut down after running `code`."
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive(code, timeout=120)
    kc.stop_channels()
    t = time.perf_counter()
    km.shutdown_kernel(now=False)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="TF32 acceleration")
    print(f"PAN CNN convolutions, batch 64, {a.threads} threads: GFLOP/s forward / backward")
    for mkldnn in (True, False):
        with torch.backends.mkldnn.flags(enabled=mkldnn):
            for cl in (True, False):
                cells = [conv_speed(*spec, channels_last=cl, reps=a.reps) for spec in PAN_CONVS]
                name = f"{'oneDNN' if mkldnn else 'oneDNN off'}, {'channels-last' if cl else 'channels-first'}"
                row = [f"{f:4.0f}/{b:4.0f}" if b > 0 else f"{f:4.0f}/   -" for f, b in cells]  # stem: too fast to time
                print(f"  {name:28s}", "  ".join(row))
    per_tile = sum((3 if ci > 1 else 2) * 2 * (s // st) ** 2 * co * ci * 9 for ci, co, s, st in PAN_CONVS)
    print(f"  stage-1 PAN training, 15 epochs x 640 tiles, fwd + bwd: {per_tile * 640 * 15 / 1e12:.1f} TFLOP")
    layers = [f"{ci}->{co} at {s}x{s}{' stride 2' if st == 2 else ''}" for ci, co, s, st in PAN_CONVS]
    print("  layers:", ", ".join(layers))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import papermill"], capture_output=True, text=True, check=True
    ).stderr
    cumulative = {m.group(2).strip(): int(m.group(1)) / 1e6 for m in re.finditer(r"\|\s*(\d+) \|(.*)", out)}
    print(f"import papermill: {cumulative.get('papermill', float('nan')):.2f} s, of which rfc3987_syntax "
          f"{cumulative.get('rfc3987_syntax', 0.0):.2f} s (jsonschema's optional IRI checker)")
    plain, no_exit = seconds(LIBS), seconds(LIBS + "; import os; os._exit(0)")
    print(f"python -c '{LIBS}': {plain:.2f} s; skipping the interpreter's exit (os._exit): {no_exit:.2f} s")
    for code in ("pass", LIBS, LIBS + "; import gc; gc.freeze()"):
        print(f"kernel shutdown after {code!r}: {kernel_shutdown(code):.2f} s")


if __name__ == "__main__":
    main()
