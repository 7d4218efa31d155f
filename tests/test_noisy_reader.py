"""The ``noisy:`` reader: a share p of records carries another record's target, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from jarvl.data.concat import record_text
from jarvl.data.readers.noisy import NoisyDataset
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample

CLEAN = "synthetic:caption:train?n=400&seed=2"


def noisy(p: float, **extra: object) -> NoisyDataset:
    query = "&".join(f"{k}={v}" for k, v in {"n": 400, "seed": 2, "p": p, **extra}.items())
    return open_dataset(f"noisy:synthetic:caption:train?{query}")


def test_options_reach_the_wrapped_reader():
    ds, clean = noisy(0.0), open_dataset(CLEAN)
    assert len(ds) == 400
    assert all(ds[i].target == clean[i].target for i in range(5))


@pytest.mark.parametrize("p", [0.0, 0.4, 1.0])
def test_share_of_mispaired_records_is_p(p):
    ds = noisy(p)
    sources = [ds.source(i) for i in range(len(ds))]
    share = sum(s is not None for s in sources) / len(ds)
    # binomial(400, 0.4) has std 0.0245: 4 std either side
    assert abs(share - p) <= 0.1
    assert all(s != i for i, s in enumerate(sources))


def test_mispaired_sample_keeps_its_image_and_takes_the_other_text():
    ds, clean = noisy(0.5), open_dataset(CLEAN)
    i = next(i for i in range(len(ds)) if ds.source(i) is not None)
    j = ds.source(i)
    s, own = ds[i], clean[i]
    assert np.array_equal(s.image, own.image)
    assert (s.prompt, s.id, s.task, s.family) == (own.prompt, own.id, own.task, own.family)
    assert s.target == clean[j].target != own.target
    assert s.answers == [s.target] and s.meta["noisy_from"] == j
    # the tokenizer's text-only path reads the same (noisy) text as training does
    assert record_text(ds, i) == (s.prompt, s.target)


def test_deterministic_per_index_and_seeded():
    a, b, c = noisy(0.4), noisy(0.4), noisy(0.4, noise_seed=1)
    assert [a.source(i) for i in range(100)] == [b.source(i) for i in range(100)]
    assert [a.source(i) for i in range(100)] != [c.source(i) for i in range(100)]
    assert a[7].target == b[7].target
    assert a.source(-1) == a.source(len(a) - 1)
    with pytest.raises(IndexError):
        a.source(len(a))


class Records:
    """A reader without ``item``: the wrapper falls back to ``ds[j]`` for the other record's text."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> Sample:
        return Sample(prompt="q", target=f"t{index}", task="caption", answers=[f"t{index}", f"u{index}"], id=str(index))


def test_any_random_access_reader():
    ds = NoisyDataset(Records(), p=1.0)
    assert not hasattr(ds, "item")
    for i in range(3):
        j = ds.source(i)
        assert ds[i].target == f"t{j}" and ds[i].answers == [f"t{j}", f"u{j}"] and ds[i].id == str(i)


@pytest.mark.parametrize(
    "spec, match",
    [
        ("noisy:synthetic:caption:train?p=1.5", r"p must be in \[0, 1\]"),
        ("noisy:synthetic:caption:train?p=lots", "p must be a number"),
        ("noisy:caption?p=0.4", "expected noisy:FORMAT:PATH"),
        ("noisy:synthetic:caption:train?n=1&p=0.4", "at least 2 records"),
        ("noisy:synthtic:caption:train?p=0.4", "did you mean 'synthetic'"),
    ],
)
def test_bad_specs_fail_at_open(spec, match):
    with pytest.raises(ValueError, match=match):
        open_dataset(spec)
