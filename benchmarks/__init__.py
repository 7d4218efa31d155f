"""jarvl's reproduction suite: experiments declared as YAML configs, run by one entry point.

    python -m benchmarks run benchmarks/configs/fusions.yaml [--quick] [--merge] [--from-json] [--device cuda]
    python -m benchmarks report

See benchmarks/README.md. The library (``src/jarvl``) never imports this package.
"""
