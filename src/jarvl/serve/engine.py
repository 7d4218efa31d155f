"""One thread owns the model; requests wait in a bounded queue and are answered in batches.

PyTorch modules are not made to be called from many threads at once (and ``return_attn`` is a flag
on the fusion), so every model call happens on this one thread. Whatever is queued when it wakes
is answered in one call, up to ``max_batch_questions`` questions, each image encoded once
(``Predictor.answer_questions`` with ``image_index``). At most ``max_pending`` requests are admitted
at a time; more are refused at once (503), so memory stays bounded however many clients come.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from jarvl.inference import Answers, Predictor
from jarvl.serve.limits import Limits, RequestError


@dataclass
class Job:
    """One request's image float[3, S, S] (preprocessed) and its questions."""

    pixels: torch.Tensor
    questions: list[str]
    attention: bool
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class Result:
    """A job's answers, and how many questions shared its model call (``batch_questions``)."""

    answers: Answers
    batch_questions: int
    queue_ms: float
    model_ms: float


class Engine:
    """Submit jobs from any thread; the model thread answers them (see the module doc)."""

    def __init__(self, predictor: Predictor, limits: Limits) -> None:
        self.predictor, self.limits = predictor, limits
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._slots = threading.BoundedSemaphore(limits.max_pending)
        self._thread = threading.Thread(target=self._run, name="jarvl-model", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future:
        """Queue ``job``; its future gets a ``Result``. Raises RequestError(503) when the queue is full."""
        if not self._slots.acquire(blocking=False):
            raise RequestError(503, "busy", f"the server is busy ({self.limits.max_pending} requests waiting); retry shortly")
        job.future.add_done_callback(lambda _: self._slots.release())
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Stop the model thread after the jobs already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        torch.set_grad_enabled(False)  # per thread: no autograd graph is ever built here
        carry: Job | None = None
        stop = False
        while not stop:
            job = carry or self._queue.get()
            carry = None
            if job is None:
                return
            batch, count = [job], len(job.questions)
            while count < self.limits.max_batch_questions:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True  # after this batch
                    break
                if count + len(more.questions) > self.limits.max_batch_questions:
                    carry = more  # the next batch starts with it
                    break
                batch.append(more)
                count += len(more.questions)
            self._answer(batch, count)

    def _answer(self, batch: list[Job], count: int) -> None:
        start = time.perf_counter()
        questions = [q for job in batch for q in job.questions]
        index = [i for i, job in enumerate(batch) for _ in job.questions]
        try:
            out = self.predictor.answer_questions(
                torch.stack([job.pixels for job in batch]), questions, index, attention=any(j.attention for j in batch)
            )
        except Exception as err:  # noqa: BLE001 - one bad batch must not stop the server
            for job in batch:
                job.future.set_exception(err)
            return
        model_ms = (time.perf_counter() - start) * 1e3
        lo = 0
        for job in batch:
            hi = lo + len(job.questions)
            mine = Answers(out.texts[lo:hi], out.scores[lo:hi],
                           {k: v[lo:hi] for k, v in out.attention.items()} if job.attention else {},
                           out.mask[lo:hi] if out.mask is not None else None)  # fmt: skip
            job.future.set_result(Result(mine, count, (start - job.queued_at) * 1e3, model_ms))
            lo = hi
