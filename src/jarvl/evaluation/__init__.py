"""Evaluation: the field's official metrics as plain functions, and the evaluators that use them."""
