"""The ``gpu`` kind: each fusion of a large preset trained and decoded on the device, no data pipeline.

The measurement is ``benchmarks/gpu_fusions.py`` (random inputs of the right shapes made on the
device, AdamW, bf16 autocast on a GPU, eager or compiled; see its docstring): the same code as the
standalone script a bare GPU machine runs. Arms are fusion names; ``settings.set`` holds model
overrides for all of them. The task is the preset. Payload: the script's (``settings``, ``records``,
``matmul_peak``...). Metrics for findings, per fusion: ``train_samples_per_s``, ``train_peak_gb``,
``step_ms_median``, ``generate_b1_ms``, ``train_tflops`` (3 x forward GFLOPs x samples/s, where the
flops config has profiled the preset) and ``fraction_of_peak`` (of the matmul peak measured in the run).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from benchmarks import gpu_fusions
from benchmarks.results import RESULTS
from jarvl.config import ConfigError


@dataclass
class Settings:
    preset: str = "paper-base"
    batch: int = 64
    steps: int = 200  # timed training steps per fusion (fewer when its share of budget_s runs out)
    warmup: int = 20
    text_len: int = 32
    target_len: int = 8
    gen_repeats: int = 10
    dtype: str = ""  # bf16 or fp32 ("": bf16 on a GPU, fp32 on the CPU)
    budget_s: float = 220.0  # wall-time cap of the whole run
    retry_oom: bool = True  # on out-of-memory, retry the fusion at half the batch
    compile: bool = False
    compile_mode: str = "default"
    set: list[str] = field(default_factory=list)  # model overrides (KEY=VALUE) for every fusion


def run(exp, st: Settings, ctx) -> dict:
    if any(arm.set or arm.scene for arm in exp.arms):
        raise ConfigError(f"{exp.name}: the gpu kind's arms are fusion names; model overrides go in settings.set")
    args = argparse.Namespace(
        fusions=[arm.label for arm in exp.arms], preset=st.preset, batch=st.batch, steps=st.steps, warmup=st.warmup,
        text_len=st.text_len, target_len=st.target_len, gen_repeats=st.gen_repeats, device=ctx.device, dtype=st.dtype or None,
        budget_s=st.budget_s, no_retry_oom=not st.retry_oom, set=list(st.set), flops_json=RESULTS / "flops.cpu.json",
        compile=st.compile, compile_mode=st.compile_mode, quick=ctx.quick,
    )  # fmt: skip
    return gpu_fusions.run(args, ctx.save)


def values(payload: dict) -> dict:
    peak = (payload.get("matmul_peak") or {}).get("gflop_per_s")
    out: dict = {}
    for r in payload["records"]:
        if r.get("status") != "ok":
            continue
        v = {k: r[k] for k in ("train_samples_per_s", "train_peak_gb", "step_ms_median", "params") if k in r}
        if "1" in r.get("generate", {}):
            v["generate_b1_ms"] = r["generate"]["1"]["ms_median"]
        if r.get("gflops_forward"):
            v["train_tflops"] = 3 * r["gflops_forward"] * r["train_samples_per_s"] / 1e3  # forward + backward = 3 x forward
            if peak:
                v["fraction_of_peak"] = v["train_tflops"] * 1e3 / peak
        out.setdefault(r["preset"], {})[r["fusion"]] = v
    return out


def render(exp, payload: dict, out, stem: str) -> str:
    return gpu_fusions.markdown(payload).split("\n", 1)[1].lstrip("\n")  # the page has its own title
