"""jarvl: Joint Adaptive Representations (JAR) for image-language learning.

Library layout (imports flow one way: cli -> train -> inference/evaluation/profiling -> models -> blocks;
data beside models; see DEVELOPERS.md and tests/test_layering.py):

- ``jarvl.models``: encoders, the fusion registry (``jar`` and the baselines), the decoder, presets.
- ``jarvl.data``: the one sample schema, the built-in synthetic dataset and the dataset readers.
- ``jarvl.profiling``: FLOPs (attention included), activation memory and latency.
- ``jarvl.cli``: the ``jarvl`` command (``python -m jarvl``), the demo and its plots.
"""

__version__ = "0.1.0"
