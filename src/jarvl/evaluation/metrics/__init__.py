"""Official evaluation metrics as plain pure-Python functions (VQA, GQA, SNLI-VE, COCO captions)."""

from jarvl.evaluation.metrics.vqa import normalize_vqa_answer, vqa_accuracy, vqa_evaluate

__all__ = [
    "normalize_vqa_answer",
    "vqa_accuracy",
    "vqa_evaluate",
]
