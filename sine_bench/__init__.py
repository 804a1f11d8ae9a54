"""sine-bench: an evaluation and benchmark harness for SINE single-image editing."""

__version__ = "0.1.0"
# Bumped whenever a change to sine_bench.sine can change a pixel of a result:
# it is part of every cache key.
METHOD_VERSION = "1"
