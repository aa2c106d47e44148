"""rsr-reproduce on stand-in notebooks: resume, failure listing with the cell, no partial files when interrupted,
the command line."""
import json
import subprocess
import sys

import pytest

from rsr_nb import reproduce as R


def stand_in(path, source):
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "out_dir = 'results'\nx = 1",
         "outputs": [], "execution_count": None},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source},
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "language": "python", "display_name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}))


WRITE = "from rsr_nb.core import write_json_atomic\nwrite_json_atomic(f'{out_dir}/tiny.json', {'x': x})"


def test_resume_force_and_failures(tmp_path):
    stand_in(tmp_path / "ok.ipynb", WRITE)
    stand_in(tmp_path / "bad.ipynb", "raise RuntimeError('broken on purpose')")
    jobs = [R.Job("ok", str(tmp_path / "ok.ipynb"), {"x": 3}), R.Job("bad", str(tmp_path / "bad.ipynb"))]
    out = tmp_path / "reports" / "quick"
    first = R.run_jobs(jobs, out, echo=lambda s: None)
    assert [o.status for o in first] == ["done", "failed"]
    assert "cell 1" in first[1].detail and "broken on purpose" in first[1].detail
    assert (out / "ok.ipynb").is_file() and (out / "bad.failed.ipynb").is_file() and not (out / "bad.ipynb").exists()
    mtime = (out / "ok.ipynb").stat().st_mtime
    assert [o.status for o in R.run_jobs(jobs, out, echo=lambda s: None)] == ["skipped", "failed"]
    assert (out / "ok.ipynb").stat().st_mtime == mtime  # not rerun
    jobs[0].params["x"] = 4  # other parameters: runs again
    assert R.run_jobs(jobs[:1], out, echo=lambda s: None)[0].status == "done"
    assert json.loads((out / "results" / "tiny.json").read_text()) == {"x": 4}
    assert R.run_jobs(jobs[:1], out, force=True, echo=lambda s: None)[0].status == "done"
    md, html = R.write_report(out, first, "quick")
    assert "## Failures" in md.read_text() and "broken on purpose" in md.read_text()
    assert html.read_text().startswith("<!doctype html>")
    assert not [p for p in out.iterdir() if p.name.startswith(".") or ".tmp" in p.name]


def test_interrupted_job_leaves_nothing_half_written(tmp_path, monkeypatch):
    stand_in(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    out = tmp_path / "out"

    class Interrupting(subprocess.Popen):
        def communicate(self, *a, **k):
            import time
            time.sleep(3)  # the child has started writing its notebook
            raise KeyboardInterrupt

    monkeypatch.setattr(R.subprocess, "Popen", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        R.run_job(R.Job("slow", str(tmp_path / "slow.ipynb")), out)
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == []


def test_missing_data_is_listed_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RSR_DATA", str(tmp_path / "empty"))
    o = R.run_job(R.Job("needs", "nbs/run_dsrsid.ipynb", {"data": "real"}, ("dsrsid/DSRSID.mat",)), tmp_path / "o")
    assert o.status == "not run" and "dsrsid/DSRSID.mat" in o.detail


def test_command_line_errors():
    for args, message in ((["--preset", "fast"], "invalid choice"), (["--only", "nope"], "not a job of preset"),
                          (["--jobs", "0"], "--jobs must be at least 1")):
        r = subprocess.run([sys.executable, "-m", "rsr_nb.reproduce", *args], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr, r.stderr


def _gone(pid: int, within: float = 15.0) -> bool:
    import time

    import psutil

    deadline = time.time() + within
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_interrupt_with_two_jobs_at_once_stops_both_and_says_how_to_resume(tmp_path):
    """Ctrl-C (SIGINT) while two notebooks run in parallel: both stop, their kernels too (a kernel runs in a session
    of its own and would go on computing), no file of theirs is left, exit status 130."""
    import signal
    import time

    pids = tmp_path / "pids"
    pids.mkdir()
    for name in ("a", "b", "c"):
        stand_in(tmp_path / f"{name}.ipynb", f"import os, time\nopen({str(pids)!r} + '/' + str(os.getpid()), 'w').close()"
                 "\ntime.sleep(600)")
    script = tmp_path / "go.py"
    script.write_text(
        # Ctrl-C as in a terminal: a shell that starts a job in the background (CI, nohup) makes it ignore SIGINT
        "import signal, sys\nfrom pathlib import Path\nfrom rsr_nb import reproduce as R\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"jobs = [R.Job(n, str(Path({str(tmp_path)!r}) / f'{{n}}.ipynb')) for n in 'abc']\n"
        "R.PRESETS['stand-in'] = lambda: jobs\n"
        f"sys.exit(R.main(['--preset', 'stand-in', '--jobs', '2', '--reports', {str(tmp_path / 'reports')!r}]))\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = tmp_path / "reports" / "stand-in"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(pids.iterdir())) < 2:  # both kernels are in their sleep
        time.sleep(0.5)
    kernels = [int(p.name) for p in pids.iterdir()]
    assert len(kernels) == 2
    proc.send_signal(signal.SIGINT)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, log
    assert "Run the same command again" in log and "Traceback" not in log
    assert [p.name for p in out.iterdir() if p.is_file()] == []
    assert all(_gone(pid) for pid in kernels), "a kernel went on running after the interrupt"


def _fake_results(path, seconds, **versions):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "experiment": path.stem, "wall_time_s": seconds, "finished": "2026-11-29T08:04:44+0000", "device": "cpu",
        "versions": {"machine": "x86_64", "cpu_count": 2, "torch_threads": 2, "cuda_device": None, **versions},
        "dataset": {"source": "simulated"}, "seeds": [0, 1, 2], "rows": []}))


def test_estimate_comes_from_the_committed_results_file_when_the_output_folder_is_empty(tmp_path):
    """A first run (nothing in reports/<preset>/) is estimated from the repository's results/<experiment>.json: its
    wall time as recorded, with what it was measured on; a results file of an earlier run in the output folder wins;
    with neither, the line says there is no record."""
    root, out = tmp_path / "repo", tmp_path / "reports" / "quick"
    stand_in(tmp_path / "tiny.ipynb", WRITE)
    job = R.Job("tiny", str(tmp_path / "tiny.ipynb"))
    assert "no record" in R.estimate(job, out, root)
    _fake_results(root / "results" / "tiny.json", 300.0)
    first = R.estimate(job, out, root, threads=1)
    assert first.startswith("about 5 min (last run on x86_64") and "2 torch threads" in first, first
    assert "simulated data" in first and "3 seeds" in first and "results/tiny.json" in first, first
    _fake_results(out / "results" / "tiny.json", 42.0)
    assert R.estimate(job, out, root).startswith("about 42 s"), R.estimate(job, out, root)


def test_a_job_is_estimated_from_its_experiments_results_file(tmp_path):
    """The run notebook's Experiment names the results file: run_dsrsid with d_v 16 writes dsrsid_dv16.json. A record
    made with other parameters (here seeds) is no estimate: the line says so and names them beside its time."""
    job = R.Job("dsrsid", "nbs/run_dsrsid.ipynb", {"d_v": 16, "data": "real"})  # no data needed to name it
    assert R.experiment_name(job) == "dsrsid_dv16"
    assert R.experiment_name(R.Job("zscmr", "nbs/run_zscmr.ipynb", {"dataset": "tuberlin"})) == "zscmr_tuberlin"
    root, nb = tmp_path / "repo", str(R.ROOT / "nbs/run_dsrsid.ipynb")
    _fake_results(root / "results" / "dsrsid_dv16.json", 300.0)
    record = json.loads((root / "results" / "dsrsid_dv16.json").read_text())
    record["params"] = {"d_v": 16, "seeds": [0, 1, 2], "out_dir": "elsewhere"}  # where the file went does not count
    (root / "results" / "dsrsid_dv16.json").write_text(json.dumps(record))
    same = R.estimate(R.Job("dsrsid", nb, {"d_v": 16, "seeds": [0, 1, 2]}), tmp_path / "empty", root)
    assert same.startswith("about 5 min (last run on x86_64"), same
    fewer = R.estimate(R.Job("dsrsid", nb, {"d_v": 16, "seeds": [0]}), tmp_path / "empty", root)
    assert fewer.startswith("no run with these parameters on record; results/dsrsid_dv16.json took 5 min with "
                            "seeds=[0, 1, 2] (here [0]), on x86_64"), fewer


def test_help_explains_the_presets_and_lists_every_job(capsys):
    with pytest.raises(SystemExit) as e:
        R.main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for preset in R.PRESETS:
        assert f"{preset}:" in text
        for job in R.preset_jobs(preset):
            assert job.name in text and job.notebook in text, job.name
    for words in ("RSR_DATA", "configs/paper", "GPU", "reports/<preset>/", "results/", "--only"):
        assert words in text, words
