"""Built-in dataset readers; importing this package registers them with ``jarvl.data.registry``."""

from jarvl.data.readers import generic  # noqa: F401
