"""Metrics: one record per family (``families``) and per backbone (``backbones``), one
parser for names and column labels (``names``), the checks and score identity of a
metric name (``registry``), and one module per family's scorers (clip, lpips, pixel,
overfit, oracle, edit_score). Names carry their backbone: ``clip_t[toy]``, ``lpips[alex]``."""
