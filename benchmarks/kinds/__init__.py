"""Experiment kinds: how a config is measured and shown.

A kind is a module with:

- ``Settings``: a dataclass, the config's ``settings:`` section (typed; unknown keys are errors);
- ``run(exp, settings, ctx) -> payload``: measure, returning a JSON-able dict; call
  ``ctx.save(payload)`` whenever there is something worth keeping (after each run), so a stopped
  experiment keeps what it measured. ``ctx.device`` is ``cpu`` or ``cuda``, ``ctx.out`` the
  results folder, ``ctx.old`` the payload already there under ``--merge`` (else None);
- ``values(payload) -> {task: {arm: {metric: number or {mean, std, values, seeds}}}}``: what the
  findings are judged on (``benchmarks/findings.py``);
- ``render(exp, payload, out, stem) -> markdown``: the page body (plots written into ``out``,
  named ``STEM_*.png``);
- optionally ``merge(old, new) -> payload`` for ``--merge``.

To add a kind: write that module here and add it to ``KINDS``.
"""

from __future__ import annotations

import importlib

KINDS = {"train": "benchmarks.kinds.train", "profile": "benchmarks.kinds.profile", "sampling": "benchmarks.kinds.sampling",
         "speed": "benchmarks.kinds.speed", "gpu": "benchmarks.kinds.gpu"}  # fmt: skip


def get_kind(name: str):
    if name not in KINDS:
        raise ValueError(f"unknown experiment kind {name!r}; valid: {', '.join(KINDS)}")
    return importlib.import_module(KINDS[name])
