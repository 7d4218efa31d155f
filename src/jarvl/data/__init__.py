"""Data layer: one sample schema, readers and the built-in synthetic dataset. Knows nothing of models."""
