"""Built-in dataset readers, one file per format; importing this package registers them with ``jarvl.data.registry``."""

from jarvl.data.readers import coco_captions, gqa, jsonl, noisy, snli_ve, synthetic, vqa2, wds  # noqa: F401
