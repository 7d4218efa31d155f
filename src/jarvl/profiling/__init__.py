"""Profiling: FLOPs (attention included), activation memory, process peak memory and latency."""

from jarvl.profiling.flops import attention_flops, count_flops
from jarvl.profiling.memory import PeakRSS, saved_activation_bytes
from jarvl.profiling.profiler import ProfileRecord, profile_model

__all__ = ["PeakRSS", "ProfileRecord", "attention_flops", "count_flops", "profile_model", "saved_activation_bytes"]
