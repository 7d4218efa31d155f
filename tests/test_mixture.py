"""Mixture sampler: distributions always valid, deterministic per seed, exact resume, DDP-consistent, adaptive."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvl.config import ConfigError, from_dict, to_dict
from jarvl.data.mixture import PRIORS, MixtureConfig, MixtureSampler, list_strategies
from jarvl.data.mixture_plot import plot_weights

NAMES = ["clean", "noisy", "web"]
SIZES = [100, 1000, 5000]
EVEN = [1000, 1000, 1000]
# The parameters some strategies cannot run without.
NEEDS = {
    "fixed": {"weights": {"clean": 1.0, "noisy": 0.0, "web": 2.0}},
    "curriculum": {"start_weights": {"clean": 1.0}, "warmup_steps": 30},
    "excess_loss": {"reference": {"noisy": 1.0}},
}
ADAPTIVE = ["learning_progress", "excess_loss"]


def make(strategy: str, sizes: list[int] = SIZES, **overrides) -> MixtureSampler:
    """A sampler over NAMES built through from_dict, as a YAML config would be."""
    cfg = from_dict(MixtureConfig, {"strategy": strategy, **NEEDS.get(strategy, {}), **overrides})
    return MixtureSampler(NAMES, sizes, cfg)


def loss_of(name: str, step: int, rank: int = 0) -> float:
    """A made-up training loss: clean keeps falling, noisy is flat, web is flat and jittery."""
    jitter = math.sin(7.0 * step + rank) * 0.05
    return {"clean": 1.0 + 2.0 / (1.0 + 0.02 * step), "noisy": 3.0, "web": 3.0 + jitter}[name]


def run(sampler: MixtureSampler, start: int, stop: int) -> tuple[list[str], list[dict[str, float]]]:
    """Steps start..stop-1 of the choose/update loop; the choices and the weights after each step."""
    choices, weights = [], []
    for step in range(start, stop):
        name = sampler.choose(step)
        sampler.update(name, loss_of(name, step), step)
        choices.append(name)
        weights.append(sampler.weights())
    return choices, weights


def assert_distribution(w: dict[str, float], floor: float) -> None:
    p = np.array(list(w.values()))
    assert np.all(np.isfinite(p)) and math.isclose(p.sum(), 1.0, abs_tol=1e-9), w
    assert np.all(p >= floor - 1e-12), (w, floor)


def test_every_strategy_registered():
    assert set(list_strategies()) == {"proportional", "fixed", "temperature", "uniform", "curriculum", *ADAPTIVE}
    assert set(PRIORS) <= set(list_strategies())


@settings(max_examples=150, deadline=None)
@given(
    strategy=st.sampled_from(list_strategies()),
    losses=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40),
    floor=st.sampled_from([0.0, 0.01, 0.3]),
    update_every=st.integers(1, 3),
    references=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5),
)
def test_weights_always_a_distribution(strategy, losses, floor, update_every, references):
    sampler = make(strategy, min_weight=floor, update_every=update_every)
    assert_distribution(sampler.weights(), floor)
    for step, loss in enumerate(losses):
        name = sampler.choose(step)
        sampler.update(name, loss, step)
        if step < len(references):
            sampler.update_reference(name, references[step])
        assert_distribution(sampler.weights(), floor)
        assert name in NAMES


def test_proportional_equals_sizes_over_sum():
    w = make("proportional", sizes=[300, 1000, 5000]).weights()
    np.testing.assert_allclose(list(w.values()), np.array([300, 1000, 5000]) / 6300, rtol=0, atol=1e-15)


def test_floor_lifts_only_the_starved_dataset():
    w = make("proportional", sizes=[1, 1000, 3000], min_weight=0.05).weights()
    assert w["clean"] == pytest.approx(0.05)
    assert w["web"] / w["noisy"] == pytest.approx(3.0)


def test_fixed_and_temperature_and_uniform():
    assert list(make("fixed", min_weight=0.0).weights().values()) == pytest.approx([1 / 3, 0, 2 / 3])
    assert make("fixed").weights()["noisy"] == pytest.approx(0.01)
    assert make("temperature", temperature=1.0).weights() == pytest.approx(make("proportional").weights())
    sqrt = np.sqrt(SIZES) / np.sqrt(SIZES).sum()
    assert list(make("temperature", temperature=2.0).weights().values()) == pytest.approx(sqrt.tolist())
    assert list(make("uniform").weights().values()) == pytest.approx([1 / 3] * 3)


def test_fixed_unknown_name_is_an_error_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"mixture.weights: 'clen' is not a dataset.*did you mean 'clean'"):
        make("fixed", weights={"clen": 1.0, "noisy": 1.0, "web": 1.0})
    with pytest.raises(ConfigError, match=r"no weight to dataset\(s\) 'web'"):
        make("fixed", weights={"clean": 1.0, "noisy": 1.0})


def test_bad_configs_fail_at_construction():
    with pytest.raises(ConfigError, match=r"unknown 'learning_progres'.*did you mean 'learning_progress'"):
        from_dict(MixtureConfig, {"strategy": "learning_progres"})
    with pytest.raises(ConfigError, match=r"unknown config key 'min_weigth'.*did you mean 'min_weight'"):
        from_dict(MixtureConfig, {"min_weigth": 0.1})
    with pytest.raises(ConfigError, match="mixture.weights is given but strategy 'proportional'"):
        MixtureConfig(weights={"clean": 1.0})
    with pytest.raises(ConfigError, match="too high for 3 datasets"):
        make("proportional", min_weight=0.34)
    with pytest.raises(ConfigError, match="lp_slow_decay"):
        MixtureConfig(strategy="learning_progress", lp_fast_decay=0.99, lp_slow_decay=0.9)
    with pytest.raises(ConfigError, match="needs mixture.start_weights"):
        MixtureSampler(NAMES, SIZES, MixtureConfig(strategy="curriculum"))
    cfg = from_dict(MixtureConfig, {"strategy": "excess_loss", "reference": {"web": 2.5}, "seed": 3})
    assert from_dict(MixtureConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg


@pytest.mark.parametrize("strategy", list_strategies())
def test_same_seed_same_choices_and_choose_is_idempotent(strategy):
    a, b = make(strategy, seed=7), make(strategy, seed=7)
    assert run(a, 0, 60) == run(b, 0, 60)
    assert a.choose(60) == a.choose(60) == b.choose(60)


@pytest.mark.parametrize("strategy", list_strategies())
def test_different_seed_different_choices(strategy):
    assert run(make(strategy, sizes=EVEN, seed=0), 0, 60)[0] != run(make(strategy, sizes=EVEN, seed=1), 0, 60)[0]


@pytest.mark.parametrize("strategy", list_strategies())
def test_resume_continues_the_same_schedule(strategy):
    whole = run(make(strategy, sizes=EVEN, update_every=3), 0, 100)
    first = make(strategy, sizes=EVEN, update_every=3)
    head = run(first, 0, 50)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make(strategy, sizes=EVEN, update_every=3)
    resumed.load_state_dict(state)
    tail = run(resumed, 50, 100)
    assert head[0] + tail[0] == whole[0]
    assert head[1] + tail[1] == whole[1]  # bitwise: JSON keeps float64 exactly


def test_resume_refuses_another_mixture():
    state = make("learning_progress").state_dict()
    with pytest.raises(ValueError, match="for strategy 'learning_progress'"):
        make("excess_loss").load_state_dict(state)
    with pytest.raises(ValueError, match="for datasets"):
        MixtureSampler(["a", "b"], [1, 1], MixtureConfig(strategy="learning_progress")).load_state_dict(state)


@pytest.mark.parametrize("strategy", ADAPTIVE)
def test_ranks_fed_all_reduced_losses_choose_alike(strategy):
    ranks = [make(strategy, sizes=EVEN, seed=5) for _ in range(2)]
    local = [make(strategy, sizes=EVEN, seed=5) for _ in range(2)]
    for step in range(150):
        names = [r.choose(step) for r in ranks]
        assert names[0] == names[1], step
        reduced = sum(loss_of(names[0], step, rank) for rank in range(2)) / 2  # all_reduce(AVG)
        for r in ranks:
            r.update(names[0], reduced, step)
        for rank, r in enumerate(local):  # the mistake the docs warn about: local losses
            name = r.choose(step)
            r.update(name, loss_of(name, step, rank), step)
    assert ranks[0].state_dict() == ranks[1].state_dict()
    assert local[0].weights() != local[1].weights()


@pytest.mark.parametrize("strategy", ADAPTIVE)
def test_adaptive_keeps_the_prior_before_signal(strategy):
    sampler = make(strategy, sizes=EVEN)
    for step in range(20):
        sampler.update("web", 5.0 - 0.1 * step + (step % 3), step)
    w = sampler.weights()
    assert w["clean"] == pytest.approx(1 / 3) and w["noisy"] == pytest.approx(1 / 3)


def test_learning_progress_raises_the_dataset_that_keeps_improving():
    sampler = make("learning_progress", sizes=EVEN)
    _, weights = run(sampler, 0, 300)
    assert weights[-1]["clean"] > 1 / 3 + 0.1
    assert weights[-1]["clean"] > max(weights[-1]["noisy"], weights[-1]["web"])


def test_excess_loss_raises_the_dataset_furthest_above_its_reference():
    sampler = make("excess_loss", sizes=EVEN, reference={"clean": 1.0, "noisy": 1.0, "web": 1.0})
    for step in range(60):
        name = sampler.choose(step)
        sampler.update(name, 3.0 if name == "noisy" else 1.0, step)
    w = sampler.weights()
    assert w["noisy"] > 1 / 3 + 0.2 and w["clean"] == pytest.approx(w["web"])
    # A reference model's losses replace the given reference: noisy is now as far above it as the others.
    for name in NAMES:
        sampler.update_reference(name, 3.0 if name == "noisy" else 1.0)
    sampler.update("web", 1.0, 60)
    assert list(sampler.weights().values()) == pytest.approx([1 / 3] * 3)


def test_excess_loss_without_reference_up_weights_forgetting():
    sampler = make("excess_loss", sizes=EVEN, reference={})
    for step, loss in enumerate([2.0] * 10 + [1.0] * 10 + [2.5] * 10):  # web regresses from its best
        sampler.update("web", loss, step)
    sampler.update("clean", 1.0, 30)
    sampler.update("noisy", 1.0, 31)
    w = sampler.weights()
    assert w["web"] > 0.5 and w["clean"] == pytest.approx(w["noisy"])


def test_curriculum_moves_from_start_to_prior():
    sampler = make("curriculum", sizes=EVEN, warmup_steps=30)
    start, end = sampler.probabilities(0), sampler.probabilities(30)
    assert start.tolist() == pytest.approx([0.98, 0.01, 0.01])
    assert end.tolist() == pytest.approx([1 / 3] * 3) and sampler.probabilities(500).tolist() == end.tolist()
    assert sampler.probabilities(15).tolist() == pytest.approx([2 / 3, 1 / 6, 1 / 6])  # ([1, 0, 0] + end) / 2


def test_non_finite_loss_is_skipped_and_counted():
    sampler = make("learning_progress")
    before = sampler.state_dict()
    with pytest.warns(UserWarning, match="non-finite loss"):
        sampler.update("web", float("nan"), 0)
    sampler.update("web", float("inf"), 1)
    assert sampler.skipped == 2 and sampler.state_dict()["strategy_state"] == before["strategy_state"]
    with pytest.raises(KeyError, match="did you mean 'web'"):
        sampler.update("wbe", 1.0, 2)


def test_plot_weights_writes_a_png(tmp_path):
    _, history = run(make("learning_progress"), 0, 20)
    path = plot_weights(history, tmp_path / "plots" / "weights.png", steps=range(20))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
