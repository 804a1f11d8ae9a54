"""Example sine-bench plug-ins, installed as their own package and found through entry
points: the negative-prompt-inversion method, the KeywordRecolour black-box editor, the
delta_e colour-difference metrics and the ``jsonl`` dataset format."""

__version__ = "0.1.0"
