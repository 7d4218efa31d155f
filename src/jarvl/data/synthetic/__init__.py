"""The built-in synthetic dataset: shapes with exact ground truth, as VQA, captions and entailment.

>>> ds = SyntheticDataset(task="vqa", split="train", size=1000, seed=0)
>>> s = ds[0]  # Sample: s.image uint8[64, 64, 3], s.prompt, s.target, s.family
"""

from jarvl.data.synthetic.config import FAMILIES, SPLITS, SynthConfig
from jarvl.data.synthetic.dataset import SyntheticDataset, synthetic_texts
from jarvl.data.synthetic.render import render_scene
from jarvl.data.synthetic.scene import Filter, Obj, Scene, sample_scene

__all__ = [
    "FAMILIES",
    "SPLITS",
    "Filter",
    "Obj",
    "Scene",
    "SynthConfig",
    "SyntheticDataset",
    "render_scene",
    "sample_scene",
    "synthetic_texts",
]
