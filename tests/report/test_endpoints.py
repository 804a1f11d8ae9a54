"""Claim (d) and the endpoints: fine-tuned only vs SINE vs pretrained only."""

import pandas as pd

from sine_bench.report import endpoints
from tests.report.synthetic import sweep


def test_pretrained_equivalence_compares_v1_with_k1000():
    cells = sweep("K", [0, 500, 1000], +1)
    v1 = cells[cells["K"] == 1000].assign(v=1.0, K=400)
    pooled = pd.concat([cells, v1])
    out = endpoints.pretrained_equivalence(pooled, "clip_t[toy]")
    assert out == {"pairs": 6, "max_abs_diff": 0.0}
    v1["clip_t[toy]"] += 1.5
    assert (
        endpoints.pretrained_equivalence(pd.concat([cells, v1]), "clip_t[toy]")["max_abs_diff"]
        == 1.5
    )
