"""sine-bench: an evaluation and benchmark harness for SINE single-image editing."""

__version__ = "0.1.0"
# Bumped whenever a change to sine_bench.sine can change a pixel of a result:
# it is part of every cache key.
# 2: antialiased downscales of training images and crops; sources normalised on load
# (EXIF orientation, 16-bit, palette, CMYK, alpha); mixed-precision fine-tunes.
METHOD_VERSION = "2"
