"""README's own-data example runs as written."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_own_data_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## On your own data.*?```python\n(.*?)```", text, re.S)
    assert block, "README needs an 'On your own data' section with a python block"
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)
    assert scope["res"]["mAP@all"] > 0.3   # chance is about 0.1
    from rsr_nb.cmirnet.model import CMIRNetEstimator
    back = CMIRNetEstimator.load(tmp_path / "digits_cmirnet.pt")
    assert (back.transform_b(scope["right"][:3]) == scope["est"].transform_b(scope["right"][:3])).all()
