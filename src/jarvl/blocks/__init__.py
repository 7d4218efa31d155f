"""The layer below ``jarvl.models`` and ``jarvl.models.fusions``: typed model configs and transformer blocks.

Fusions, encoders, the decoder and the full model all build on these; nothing here imports them.
"""
