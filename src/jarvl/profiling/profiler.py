"""Profile one model config: FLOPs per part, parameters, training-step memory, latency."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass

import torch

from jarvl.blocks.config import ModelConfig
from jarvl.profiling.flops import count_flops
from jarvl.profiling.memory import PeakRSS, cuda_peak_bytes, saved_activation_bytes
from jarvl.profiling.peak import matmul_peak

MB = 1024 * 1024


@dataclass
class ProfileRecord:
    """One profiled model. FLOPs are 2 x multiply-adds, per sample, forward pass only.

    ``activation_mb``: bytes autograd saved for backward in one training step of ``batch`` samples.
    ``step_peak_mb``: rise of the process peak (CPU: resident memory; CUDA: allocated memory)
    during that step (forward + backward). ``latency_ms``: median inference forward pass of the batch.
    ``train_gflops``: forward + backward FLOPs per sample (counted, not estimated); ``achieved_gflop_per_s``:
    those FLOPs of the batch over the median training step (``train_step_ms``); ``peak_gflop_per_s``:
    this machine's fp32 matmul peak measured in the same process (``jarvl.profiling.peak``), and
    ``fraction_of_peak`` the share of it the training step reaches.
    """

    preset: str
    fusion: str
    image_size: int
    image_tokens: int
    text_len: int
    target_len: int
    batch: int
    fused_tokens: int
    gflops: float
    gflops_image: float
    gflops_text: float
    gflops_fusion: float
    gflops_decoder: float
    params: int
    params_fusion: int
    activation_mb: float
    step_peak_mb: float | None
    latency_ms: float | None
    train_step_ms: float | None
    device: str
    train_gflops: float = 0.0
    achieved_gflop_per_s: float | None = None
    peak_gflop_per_s: float | None = None
    fraction_of_peak: float | None = None

    def as_dict(self) -> dict:
        """A JSON-serialisable dict of the record."""
        return asdict(self)


def make_inputs(cfg: ModelConfig, batch: int, text_len: int, target_len: int, device: torch.device, seed: int = 0):
    """Random images float[B, 3, S, S], prompts long[B, L] (all real tokens), targets long[B, T]."""
    g = torch.Generator().manual_seed(seed)
    size = cfg.vision.image_size
    images = torch.randn(batch, 3, size, size, generator=g)
    ids = torch.randint(4, cfg.text.vocab_size, (batch, text_len), generator=g)
    mask = torch.ones(batch, text_len, dtype=torch.bool)
    targets = torch.randint(4, cfg.text.vocab_size, (batch, target_len), generator=g)
    return tuple(t.to(device) for t in (images, ids, mask, targets))


def _median_ms(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def profile_model(
    cfg: ModelConfig,
    *,
    batch: int = 2,
    text_len: int | None = None,
    target_len: int = 8,
    repeats: int = 3,
    device: str = "cpu",
    timing: bool = True,
) -> ProfileRecord:
    """Profile ``cfg`` on ``device``. ``text_len`` defaults to ``cfg.text.max_len``.

    Pretrained towers (``backbone``) are profiled like the built-in ones, from their resolved
    architecture: FLOPs and memory do not depend on the weights, so none are loaded.

    ``repeats`` timed runs (after one warm-up) give the latencies; ``timing=False`` skips them.
    """
    from jarvl.models.model import JARVLModel

    dev = torch.device(device)
    text_len = text_len or cfg.text.max_len
    torch.manual_seed(0)
    model = JARVLModel(cfg).to(dev)
    images, ids, mask, targets = make_inputs(cfg, batch, text_len, target_len, dev)
    forward = lambda: model(images, ids, mask, targets)  # noqa: E731

    # Counted with autograd on: torch's module tracker rejects views of parameters made under no_grad.
    flops = count_flops(model, forward)
    with torch.no_grad():
        fused_tokens = model.encode(images[:1], ids[:1], mask[:1]).tokens.shape[1]
        image_tokens = model.image_encoder(images[:1]).shape[1]  # a pretrained ViT's class token included

    def train_step() -> None:
        model(images, ids, mask, targets).loss.backward()
        model.zero_grad(set_to_none=True)

    activation = saved_activation_bytes(model, forward)
    gc.collect()
    if dev.type == "cuda":
        step_peak = cuda_peak_bytes(train_step, dev) / MB
    else:
        with PeakRSS() as peak:
            train_step()
        step_peak = peak.delta_mb
    train_flops = count_flops(model, train_step)["total"]  # after the peak: its step must be the first

    latency = train_ms = achieved = peak = None
    if timing:
        train_ms = _median_ms(train_step, repeats, dev)
        achieved = train_flops / 1e9 / (train_ms / 1000)
        peak = matmul_peak(torch.float32, device=device, repeats=2)["gflop_per_s"]
        model.eval()
        with torch.no_grad():
            forward()  # warm-up
            latency = _median_ms(forward, repeats, dev)

    fusion_params = sum(p.numel() for m in (model.fusion, model.image_proj, model.text_proj) for p in m.parameters())
    per = 1e9 * batch
    return ProfileRecord(
        preset=cfg.preset,
        fusion=cfg.fusion.name,
        image_size=cfg.vision.image_size,
        image_tokens=int(image_tokens),
        text_len=text_len,
        target_len=target_len,
        batch=batch,
        fused_tokens=int(fused_tokens),
        gflops=flops["total"] / per,
        gflops_image=flops["image"] / per,
        gflops_text=flops["text"] / per,
        gflops_fusion=flops["fusion"] / per,
        gflops_decoder=flops["decoder"] / per,
        params=sum(p.numel() for p in model.parameters()),
        params_fusion=fusion_params,
        activation_mb=activation / MB,
        step_peak_mb=step_peak,
        latency_ms=latency,
        train_step_ms=train_ms,
        device=str(dev),
        train_gflops=train_flops / per,
        achieved_gflop_per_s=achieved,
        peak_gflop_per_s=peak,
        fraction_of_peak=None if achieved is None else achieved / peak,
    )
