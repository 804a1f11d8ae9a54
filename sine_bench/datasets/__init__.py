"""Dataset formats beyond manifest.yaml (the benchmarks' own distributed layouts), each
registered in ``protocol.formats.DATASET_FORMATS``, and ``sine-bench datasets check``."""
