import open_clip

from sine_bench.tokenizer import offline_clip_tokenizer

PROMPTS = ["a red circle and a small blue square on a yellow background", "a photo of a sks dog"]


def test_ids_equal_open_clip_and_differ_between_prompts():
    tok = offline_clip_tokenizer()
    assert len(tok) == 49408
    ours = tok(PROMPTS, padding="max_length", max_length=77).input_ids
    theirs = open_clip.get_tokenizer("ViT-B-32")(PROMPTS)
    for mine, ref in zip(ours, theirs, strict=True):
        n = int((ref != 0).sum())  # open_clip pads with 0, SD's tokenizer with <|endoftext|>
        assert mine[:n] == ref[:n].tolist()
        assert all(i == 49407 for i in mine[n:])
    assert ours[0] != ours[1]
