"""A run notebook's parameters: a misspelt one stops the run and names the closest known parameter."""
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from rsr_nb.experiment import Experiment


@dataclass
class Demo(Experiment):
    notebook: ClassVar[str] = "nbs/run_demo.ipynb"
    d_v: int = 64
    seeds: list = field(default_factory=lambda: [0])
    epochs: int = 5


def test_unknown_parameter_suggests_the_closest_known_name():
    with pytest.raises(ValueError) as e:
        Demo.from_notebook({"d_v": 32, "seeds": [0], "epochs": 5, "dv": 64})
    assert "unknown parameter(s) dv (did you mean d_v?) for nbs/run_demo.ipynb" in str(e.value)
    assert "known parameters: d_v, seeds, epochs" in str(e.value)


def test_each_unknown_parameter_gets_its_own_suggestion_or_none():
    with pytest.raises(ValueError) as e:
        Demo.from_notebook({"d_v": 32, "seeds": [0], "epochs": 5, "Epoch": 3, "sedes": [1], "zzz": 1})
    assert "Epoch (did you mean epochs?), sedes (did you mean seeds?), zzz for" in str(e.value)
