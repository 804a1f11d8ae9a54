"""sine-bench: an evaluation and benchmark harness for SINE single-image editing."""

__version__ = "0.1.0"
# Bumped whenever a change to sine_bench.sine can change a pixel of a result:
# it is part of every cache key. A change that alters only some results enters only
# their keys instead (e.g. ``runner.plan.input_preparation``: antialiased downscales and
# normalised decoding change only the fine-tunes that downscale or convert their input),
# so caches of everything it leaves bit-identical stay valid.
METHOD_VERSION = "1"
