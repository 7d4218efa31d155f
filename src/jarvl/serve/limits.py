"""The server's safety limits and the one error type its checks raise (a 4xx JSON answer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request may hold, and how much work may wait; each has a ``jarvl serve`` option."""

    max_upload_bytes: int = 8 * 1024 * 1024  # the whole request body
    max_pixels: int = 4096 * 4096  # checked from the header, before a pixel is decoded
    min_side: int = 16  # a smaller image holds less than one patch of the model's grid
    max_question_chars: int = 500
    max_questions: int = 16  # per request
    max_pending: int = 64  # requests admitted and not yet answered; more: 503
    max_batch_questions: int = 64  # questions in one model call (requests are batched up to it)


class RequestError(Exception):
    """A request the server refuses: HTTP ``status``, a machine-readable ``code``, a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        """The JSON answer: ``{"error": {"code": ..., "message": ...}}``."""
        return {"error": {"code": self.code, "message": self.message}}
