"""Training: experiment config, optimiser and schedule, checkpoints, the generic training loop."""
