"""The training loop: one entry point for a single process or torchrun DDP (``RANK`` set).

Generic over fusions: the model bundles its loss (``JARVLModel.forward``); evaluation gets a
predict function. Every ``checkpoint_every`` steps the full state is written atomically, and
``resume`` continues exactly: same batches, optimiser moments, schedule and counters; the rows
``metrics.jsonl`` (and TensorBoard) got after the restored step are dropped, so there is one history.

The run directory is claimed first (``jarvl.train.rundir``: a lock, and resume / overwrite /
refuse for an existing run); datasets, tokenizer, model and optimiser are then built in memory,
and only when all of that has worked is anything written, so a failed start leaves the directory
as it found it.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from jarvl.checkpoint_layout import checkpoint_path, load_tokenizer
from jarvl.data.bad_records import SkipStats, TooManyBadRecords
from jarvl.data.collate import Batch
from jarvl.data.concat import ConcatDataset, open_datasets
from jarvl.data.loader import make_loader
from jarvl.data.mixture import MixtureSampler
from jarvl.errors import RunAborted
from jarvl.evaluation.predict import exact_match_report, predict_all
from jarvl.inference import make_collator, predict_fn
from jarvl.models.model import JARVLModel
from jarvl.models.pretrained import load_pretrained_towers, resolve_backbones
from jarvl.models.weights import load_weights_into, read_config
from jarvl.train import distributed as dist_utils
from jarvl.train.batches import MixtureBatches, build_train_batches
from jarvl.train.checkpoint import load_training_state, param_index_names, restore_optimizer, save_checkpoint
from jarvl.train.config import ExperimentConfig, experiment_dict, validate_experiment
from jarvl.train.logger import MetricsLogger
from jarvl.train.optim import lr_at, make_optimizer
from jarvl.train.progress import Progress
from jarvl.train.run_tokenizer import backbone_tokenizer, fit_model_to_tokenizer, fit_tokenizer
from jarvl.train.rundir import RunDir, RunDirBusy, notice


class NonFiniteLoss(RunAborted):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class Trainer:
    """Train ``cfg`` into ``run_dir``. ``resume``: continue from ``run_dir``'s last checkpoint;
    ``overwrite``: replace the run already in ``run_dir`` (without either, an existing run is an
    error); ``init_from``: start from another run's weights (and tokenizer) with a new data mixture.

    ``callbacks`` observe evaluations and checkpoints (``jarvl.train.callbacks``). The run directory
    stays locked (``jarvl.train.rundir``) until :meth:`fit` returns or :meth:`close`.
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        init_from: str | None = None,
        overwrite: bool = False,
        batch_hooks: list | None = None,
        callbacks: list | None = None,
    ) -> None:
        self.cfg, self.run_dir = validate_experiment(cfg), Path(run_dir)
        self.batch_hooks = list(batch_hooks or [])  # called with every training Batch (e.g. to tally texts)
        self.callbacks = list(callbacks or [])  # observers of evaluations and checkpoints (jarvl.train.callbacks)
        self.info = dist_utils.setup(cfg.run.device)
        if cfg.data.batch_size % self.info.world:
            raise ValueError(f"data.batch_size {cfg.data.batch_size} is not divisible by the {self.info.world} ranks")
        self.rundir = RunDir(self.run_dir, resume=resume, overwrite=overwrite)
        self._claim()
        try:
            self._start(resume, overwrite, init_from)
        except BaseException:
            self.rundir.abandon()
            raise

    def _claim(self) -> None:
        # Rank 0 alone locks; every rank learns whether it worked, so none waits forever on the others.
        error = None
        if self.info.main:
            try:
                self.rundir.claim()
            except (RunAborted, ValueError) as err:
                error = err
        (failed,) = dist_utils.broadcast_flags([error is not None], self.info)
        if error is not None:
            raise error
        if failed:
            raise RunDirBusy(f"rank 0 could not claim the run directory {self.run_dir}")

    def _start(self, resume: bool, overwrite: bool, init_from: str | None) -> None:
        cfg = self.cfg
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        self.state: dict[str, Any] = {"step": 0, "samples": 0, "elapsed": 0.0, "best": None, "evals": []}
        self.skips = SkipStats()
        self._pending_losses: list[tuple[int, torch.Tensor]] = []  # (step, loss on the device), see _defers_loss
        resume_ckpt = self._resume_checkpoint() if resume else None
        # Backbones first: a wrong path fails in a second, not after the datasets and tokenizer.
        # A resumed run takes the resolution stored in its checkpoint (the directories may be gone).
        resolve_backbones(cfg.model, read_config(resume_ckpt)[0] if resume_ckpt else None)
        self.mixture, self.mixture_data, self.mixture_batches = None, {}, None
        self._source_window: dict[str, list[float]] = {}  # mixture: each dataset's losses since the last log row
        if cfg.data.mixture:
            self.mixture_data = {name: open_datasets([spec]) for name, spec in cfg.data.mixture.items()}
            unknown = set(cfg.data.loss_weights) - set(self.mixture_data)
            if unknown:
                raise ValueError(f"data.loss_weights names {sorted(unknown)}, not in data.mixture ({', '.join(self.mixture_data)})")
            self.mixture = MixtureSampler(list(self.mixture_data), [len(d) for d in self.mixture_data.values()], cfg.data.sampling)
            self.train_data = ConcatDataset(list(self.mixture_data.values()))  # the tokenizer reads them all
        else:
            self.train_data = open_datasets(cfg.data.train)
        self.val_data = open_datasets(cfg.data.val) if cfg.data.val else None
        if resume and resume_ckpt is None and self.info.main:
            notice(f"--resume: {self.run_dir} has no checkpoint yet; starting from step 0 (its partial files are replaced)")
        self.tokenizer = self._tokenizer(resume_ckpt, init_from)
        fit_model_to_tokenizer(cfg.model, self.tokenizer)
        torch.manual_seed(cfg.run.seed)
        self.model = JARVLModel(cfg.model)
        if init_from and not resume_ckpt:
            self._init_weights_from(init_from)
        elif not resume_ckpt:
            load_pretrained_towers(self.model)  # a fresh run starts its backbones from their checkpoints
        self.model.to(self.info.device)
        self.optimizer = make_optimizer(self.model, cfg.optim)
        if resume_ckpt:
            self._restore(resume_ckpt)
        self.ddp = self.model
        if self.info.enabled:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.info.local_rank] if self.info.device.type == "cuda" else None
            )
        # The training forward; through torch.compile when asked (self.model stays the plain module, so
        # checkpoints, evaluation and generate never see the compiled wrapper).
        self.forward = torch.compile(self.ddp) if cfg.run.compile else self.ddp
        self.collate = make_collator(cfg.model, self.tokenizer, share_images=True)  # K questions per image: encoded once
        # Everything is built: the first writes. A resume drops the log rows past its checkpoint.
        if self.info.main:
            self.rundir.commit(fresh=overwrite or (resume and resume_ckpt is None))
            self.tokenizer.save(self.run_dir / "tokenizer.json")
            (self.run_dir / "config.json").write_text(json.dumps(experiment_dict(cfg), indent=1))
        self.logger = MetricsLogger(self.run_dir, enabled=self.info.main, resume_step=self.state["step"] if resume_ckpt else None)

    def close(self) -> None:
        """Release the run directory (``fit`` does this when it returns or fails)."""
        self.rundir.release()

    # ----------------------------------------------------------------- setup helpers
    def _resume_checkpoint(self) -> Path | None:
        try:
            return checkpoint_path(self.run_dir, "last")
        except FileNotFoundError:
            return None  # nothing saved yet: a resumed run that never checkpointed starts fresh

    def _tokenizer(self, resume_ckpt: Path | None, init_from: str | None):
        if resume_ckpt:
            return load_tokenizer(resume_ckpt)
        if init_from:
            return load_tokenizer(checkpoint_path(init_from))
        from jarvl.data.tokenizer import Tokenizer

        # Trained on rank 0, in memory (written only once the start has worked), sent to the others.
        text = None
        if self.info.main:
            d = self.cfg.data
            # A pretrained text tower brings its tokenizer; the run keeps a copy (eval, predict, resume).
            tokenizer = backbone_tokenizer(self.cfg.model) or fit_tokenizer(self.train_data, d.tokenizer, d.vocab_size, d.tokenizer_samples)
            text = tokenizer.to_state()
        return Tokenizer.from_state(dist_utils.broadcast_object(text, self.info))

    def _init_weights_from(self, source: str) -> None:
        ckpt = checkpoint_path(source)
        stored, _ = read_config(ckpt)
        if stored.fusion.name != self.cfg.model.fusion.name:
            raise ValueError(f"--init-from {source}: its fusion is '{stored.fusion.name}', this run's is '{self.cfg.model.fusion.name}'")
        load_weights_into(self.model, ckpt)

    def _restore(self, ckpt: Path) -> None:
        load_weights_into(self.model, ckpt)
        state, tensors = load_training_state(ckpt)
        restore_optimizer(self.optimizer, param_index_names(self.model, self.optimizer), tensors, state.pop("optimizer"))
        torch.set_rng_state(torch.tensor(state.pop("torch_rng"), dtype=torch.uint8))
        skips = state.pop("skips", None)
        if skips:
            self.skips.seen = skips["seen"]
            self.skips.counts.update(skips["by_reason"])
            self.skips.examples = skips["examples"]
        state.pop("config", None)
        if self.mixture is not None:
            self.mixture.load_state_dict(state["mixture"])
        self.state = state

    # ----------------------------------------------------------------- the loop
    def fit(self) -> dict[str, Any]:
        """Train until ``run.max_steps`` or ``run.max_minutes``; evaluate and checkpoint at the end."""
        cfg, info = self.cfg, self.info
        start_step = self.state["step"]
        steps = max(0, cfg.run.max_steps - start_step)
        if self.mixture is not None:
            batches = self.mixture_batches = MixtureBatches(
                self.mixture_data,
                self.mixture,
                self.collate,
                batch_size=cfg.data.batch_size,
                seed=cfg.run.seed,
                start_step=start_step,
                steps=steps,
                consumed=self.state.get("consumed", {}),
                rank=info.rank,
                world=info.world,
                num_workers=cfg.data.num_workers,
            )
        else:
            batches = build_train_batches(
                self.train_data,
                self.collate,
                batch_size=cfg.data.batch_size,
                seed=cfg.run.seed,
                start_step=start_step,
                steps=steps,
                rank=info.rank,
                world=info.world,
                num_workers=cfg.data.num_workers,
            )
        progress = Progress(cfg.run.max_steps, start_step, enabled=info.main and cfg.run.progress)
        t0 = time.perf_counter() - self.state["elapsed"]
        last_eval_time = self.state["elapsed"]
        window: list[float] = []
        window_start, window_samples = time.perf_counter(), 0
        self.model.train()
        try:
            with progress:
                for batch in batches:
                    step = self.state["step"]
                    loss, n = self._train_step(batch, step)  # mean loss and samples over all ranks
                    if self.mixture is not None:
                        # All ranks feed the same averaged loss, so they keep choosing alike.
                        self.mixture.update(batch.source, loss, step)
                        self._source_window.setdefault(batch.source, []).append(loss)
                    self.state["step"] = step = step + 1
                    self.state["samples"] += n
                    self.state["elapsed"] = time.perf_counter() - t0
                    if loss is not None:
                        window.append(loss)
                    window_samples += n
                    if step % cfg.run.log_every == 0 or step == cfg.run.max_steps:
                        window += self._read_losses()
                        rate = window_samples / max(1e-9, time.perf_counter() - window_start)
                        self._log_train(step, sum(window) / len(window), rate)
                        progress.update(step, sum(window) / len(window), rate, self.skips)
                        window, window_start, window_samples = [], time.perf_counter(), 0
                    # Wall-clock decisions are rank 0's, broadcast together so all ranks act alike.
                    out_of_time, timed_eval = dist_utils.broadcast_flags(
                        [
                            cfg.run.max_minutes > 0 and self.state["elapsed"] >= cfg.run.max_minutes * 60,
                            cfg.run.eval_every_minutes > 0 and self.state["elapsed"] - last_eval_time >= cfg.run.eval_every_minutes * 60,
                        ],
                        info,
                    )
                    if out_of_time:
                        break
                    if timed_eval or (cfg.run.eval_every and step % cfg.run.eval_every == 0 and step < cfg.run.max_steps):
                        last_eval_time = self.state["elapsed"]
                        window += self._read_losses()  # never checkpoint past a non-finite loss
                        self.evaluate_and_maybe_checkpoint(step, t0)
                    elif cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0:
                        window += self._read_losses()
                        self.checkpoint(step)
            self._read_losses()
            summary = self.finish(t0)
        finally:
            self.logger.close()
            self.close()
        return summary

    def _defers_loss(self) -> bool:
        """One process and no mixture: the loss stays on the device until a log row, evaluation or
        checkpoint needs it (``_read_losses``), so a step never waits for the GPU to finish. DDP
        all-reduces it and the mixture sampler reads it every step."""
        return not self.info.enabled and self.mixture is None

    def _read_losses(self) -> list[float]:
        """The deferred losses since the last read, in one device-to-host copy; raises NonFiniteLoss
        (naming the first bad step) before any checkpoint could keep its weights."""
        if not self._pending_losses:
            return []
        steps, losses = zip(*self._pending_losses)
        self._pending_losses = []
        values = torch.stack(losses).tolist()
        for step, value in zip(steps, values):
            if not math.isfinite(value):
                raise self._non_finite(value, step)
        return values

    def _non_finite(self, total: float, step: int) -> NonFiniteLoss:
        return NonFiniteLoss(
            f"non-finite loss ({total}) at step {step + 1}; the last good checkpoint in {self.run_dir} is intact "
            f"(lower optim.lr or raise optim.warmup_steps, then --resume)"
        )

    def _train_step(self, batch: Batch, step: int) -> tuple[float | None, int]:
        """Returns (the mean loss over all ranks, or None when deferred, see ``_defers_loss``; samples)."""
        cfg = self.cfg
        for hook in self.batch_hooks:
            hook(batch)
        self.skips.merge(batch.seen, batch.skipped)
        lr = lr_at(step, cfg.run.max_steps, cfg.optim)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = batch.to(self.info.device)
        chunks = max(1, min(cfg.optim.accumulation, len(batch))) if len(batch) else 1
        total = None
        for i in range(chunks):
            sl = slice(i * len(batch) // chunks, (i + 1) * len(batch) // chunks)
            sync = contextlib.nullcontext() if (i == chunks - 1 or not self.info.enabled) else self.ddp.no_sync()
            with sync, self._autocast():
                if len(batch) == 0:
                    # Every record of this batch was bad: still take part in DDP's gradient all-reduce.
                    loss = sum(p.sum() for p in self.model.parameters()) * 0.0
                else:
                    images, ids, mask, targets, index, grid = batch.part(sl)
                    refs = None if batch.referents is None else batch.referents[sl]
                    words = None if batch.phrases is None else batch.phrases[sl]
                    ways = None if batch.directions is None else batch.directions[sl]
                    loss = self.forward(
                        images, ids, mask, targets, index, grid_targets=grid, referents=refs, phrases=words, directions=ways
                    ).loss
                weight = cfg.data.loss_weights.get(batch.source, 1.0) if batch.source else 1.0
                (loss * weight / chunks).backward()
            part = loss.detach().float() / chunks
            total = part if total is None else total + part
        if self._defers_loss():
            self._pending_losses.append((step, total))
            total = 0.0  # checked when read
        else:
            total = float(total)
        # One all-reduce per step carries everything every rank must agree on: the skip counts (all
        # ranks reach the same verdict, or the others would hang), finiteness, loss and batch size.
        finite = math.isfinite(total)
        seen, bad, nonfinite, loss_sum, n = dist_utils.all_reduce_sum(
            [float(self.skips.seen), float(self.skips.skipped), 0.0 if finite else 1.0, total if finite else 0.0, float(len(batch))],
            self.info,
        )
        try:
            self.skips.check(cfg.data.max_bad_fraction, totals=(seen, bad))
        except TooManyBadRecords:
            self.logger.log("abort", step, {"skips": self.skips.as_dict()})
            raise
        if nonfinite:
            raise self._non_finite(total, step)
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return (None if self._defers_loss() else loss_sum / self.info.world), int(n)

    def _autocast(self):
        precision = self.cfg.run.precision
        if precision == "auto":
            precision = "bf16" if self.info.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        if precision == "bf16":
            return torch.autocast(self.info.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _log_train(self, step: int, loss: float, rate: float) -> None:
        if self.mixture is not None:
            # Each dataset's mean training loss since the last row (datasets not drawn are left out).
            losses = {name: sum(v) / len(v) for name, v in self._source_window.items()}
            self._source_window = {}
            self.logger.log("mixture", step, {"weights": self.mixture.weights(), "loss": losses})
        gates = {k: float(v) for k, v in self.model.fusion.gate_values().items()}
        self.logger.log(
            "train",
            step,
            {
                "loss": loss,
                "lr": self.optimizer.param_groups[0]["lr"],
                "samples_per_s": rate,
                "samples": self.state["samples"],
                "elapsed_s": self.state["elapsed"],
                "skipped": self.skips.skipped,
                "gate_mean_abs": sum(abs(v) for v in gates.values()) / len(gates) if gates else 0.0,
            },
        )

    # ----------------------------------------------------------------- evaluation and checkpoints
    def predict_fn(self, num_beams: int = 1):
        """Batch -> generated strings, for evaluators (they never see the model class)."""
        return predict_fn(self.model, self.tokenizer, self.info.device, num_beams, autocast=self._autocast)

    def evaluate(self, data=None, limit: int | None = None) -> dict[str, Any]:
        """Exact-match report on the first ``limit`` records of ``data`` (default: the validation set)."""
        data = data or self.val_data
        n = min(len(data), limit or self.cfg.run.eval_samples)
        batches = [list(range(i, min(i + 256, n))) for i in range(0, n, 256)]
        loader = make_loader(data, batches, self.collate, 0)
        self.model.eval()
        try:
            records = predict_all(self.predict_fn(), loader)
        finally:
            self.model.train()
        return {**exact_match_report(records), "records": records}

    def evaluate_and_maybe_checkpoint(self, step: int, t0: float) -> dict[str, Any] | None:
        """Evaluate on rank 0, log, and checkpoint (as best when it is the best so far)."""
        start = time.perf_counter()
        report = None
        if self.val_data is not None and self.info.main:
            report = self.evaluate()
            entry = {
                "step": step,
                "samples": self.state["samples"],
                "elapsed_s": time.perf_counter() - t0,
                "accuracy": report["accuracy"],
                "per_family": report["per_family"],
                "per_task": report["per_task"],
            }
            self.state["evals"].append(entry)
            self.logger.log("eval", step, {k: v for k, v in entry.items() if k != "step"})
        best = report is not None and (self.state["best"] is None or report["accuracy"] > self.state["best"]["accuracy"])
        if best:
            self.state["best"] = {"step": step, "accuracy": report["accuracy"]}
        self.checkpoint(step, best=best)
        self._notify("on_evaluate", step, report, time.perf_counter() - start)
        return report

    def _notify(self, event: str, *args) -> None:
        """Call ``event`` on every callback that has it (rank 0 only)."""
        if self.info.main:
            for callback in self.callbacks:
                method = getattr(callback, event, None)
                if method is not None:
                    method(self, *args)

    def checkpoint(self, step: int, best: bool = False) -> None:
        """Write the full training state (rank 0) and wait for it on every rank."""
        if self.info.main:
            state = {
                **self.state,
                "torch_rng": torch.get_rng_state().tolist(),
                "skips": self.skips.as_dict(),
                "config": experiment_dict(self.cfg),
            }
            if self.mixture is not None:
                state["mixture"] = self.mixture.state_dict()
                state["consumed"] = dict(self.mixture_batches.consumed) if self.mixture_batches else self.state.get("consumed", {})
            save_checkpoint(self.run_dir, step, self.model, self.optimizer, self.tokenizer, state, best=best)
            self._notify("on_checkpoint", step, checkpoint_path(self.run_dir, "last"))
        dist_utils.barrier(self.info)

    def _plot_mixture(self) -> None:
        from jarvl.data.mixture_plot import plot_weights
        from jarvl.train.logger import read_metrics

        rows = read_metrics(self.run_dir, "mixture")
        if rows:
            plot_weights([r["weights"] for r in rows], self.run_dir / "mixture_weights.png", steps=[r["step"] for r in rows])

    def finish(self, t0: float) -> dict[str, Any]:
        """Final evaluation, checkpoint and ``summary.json``."""
        step = self.state["step"]
        report = self.evaluate_and_maybe_checkpoint(step, t0)
        summary = {
            "steps": step,
            "samples": self.state["samples"],
            "elapsed_s": self.state["elapsed"],
            "final": None if report is None else {k: v for k, v in report.items() if k != "records"},
            "best": self.state["best"],
            "skips": self.skips.as_dict(),
            "skip_summary": self.skips.summary(),
        }
        if self.info.main:
            if self.mixture is not None:
                summary["mixture_weights"] = self.mixture.weights()
                summary["consumed"] = dict(self.mixture_batches.consumed) if self.mixture_batches else {}
                self._plot_mixture()
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
            self.logger.log("summary", step, {"skips": self.skips.as_dict()})
        return summary
