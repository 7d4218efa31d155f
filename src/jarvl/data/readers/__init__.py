"""Built-in dataset readers; importing this package registers them with ``jarvl.data.registry``."""

from jarvl.data.readers import coco_captions, generic, gqa, snli_ve, vqa2, wds  # noqa: F401
from jarvl.data.readers import noisy  # noqa: F401
