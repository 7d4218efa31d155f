"""Fusion registry. Importing this package registers every fusion."""

from jarvl.models.fusions import concat, cotokenization, cross_attention, jar, perceiver  # noqa: F401 (register)
from jarvl.models.fusions.base import Fusion, FusionOutput, build_fusion, check_fusion_name, list_fusions, register_fusion

__all__ = ["Fusion", "FusionOutput", "build_fusion", "check_fusion_name", "list_fusions", "register_fusion"]
