"""Official evaluation metrics as plain pure-Python functions (VQA, GQA, SNLI-VE, COCO captions)."""

from jarvl.evaluation.metrics.bleu import bleu4, coco_tokenize, corpus_bleu
from jarvl.evaluation.metrics.cider import cider_d, cider_d_scores
from jarvl.evaluation.metrics.exact_match import (
    exact_match_by_group,
    gqa_accuracy,
    normalize_answer,
    snli_ve_accuracy,
)
from jarvl.evaluation.metrics.vqa import normalize_vqa_answer, vqa_accuracy, vqa_evaluate

__all__ = [
    "bleu4",
    "cider_d",
    "cider_d_scores",
    "coco_tokenize",
    "corpus_bleu",
    "exact_match_by_group",
    "gqa_accuracy",
    "normalize_answer",
    "normalize_vqa_answer",
    "snli_ve_accuracy",
    "vqa_accuracy",
    "vqa_evaluate",
]
