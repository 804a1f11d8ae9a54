from transformers import CLIPTokenizer

from sine_bench.tokenizer import offline_clip_tokenizer
from sine_bench.toy.vocab import write_toy_tokenizer


def test_toy_tokenizer_is_compact_and_matches_full_bpe_pieces(tmp_path):
    tok = CLIPTokenizer.from_pretrained(write_toy_tokenizer(tmp_path))
    full = offline_clip_tokenizer()
    assert 500 < len(tok) < 800
    for text in [
        "a large red circle and a small blue square on a striped yellow background",
        "a photo of a sks cross",
    ]:
        assert tok.tokenize(text) == full.tokenize(text)
    a, b = tok("a red circle").input_ids, tok("a blue circle").input_ids
    assert a != b
    assert max(tok("a red circle").input_ids) == len(tok) - 1  # EOT has the top id
