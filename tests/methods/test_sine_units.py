"""SINE's edit units with images_per_call: which fine-tunes' edits share a unit."""

from sine_bench.methods.base import EditJob
from sine_bench.methods.sine import Sine


def _job(finetune, seed, n, height=64):
    settings = dict(v=0.7, K=400, guidance=7.5, steps=4, eta=0.0, scheduler="ddim")
    settings |= dict(height=height, width=64, seed=seed)
    if n > 1:
        settings["images_per_call"] = n
    return EditJob(f"{finetune}-{seed}-{n}-{height}", "cell", finetune, "a prompt", settings)


def _finetunes(units):
    return sorted(tuple(sorted({j.finetune for j in jobs})) for jobs, _ in units)


def test_the_ith_units_of_n_finetunes_of_one_shape_go_together():
    jobs = [_job(f, seed, 2) for f in "abc" for seed in (0, 1)]
    units = Sine().edit_units(jobs)
    assert sorted(j.key for jobs, _ in units for j in jobs) == sorted(j.key for j in jobs)
    # per fine-tune, seed 0 and seed 1 are units 0 and 1; a and b share, c is alone
    assert _finetunes(units) == [("a", "b"), ("a", "b"), ("c",), ("c",)]
    assert all(len({j.settings["seed"] for j in jobs}) == 1 for jobs, _ in units)


def test_other_sizes_and_other_n_never_share_and_n_1_is_per_image():
    jobs = [_job("a", 0, 2), _job("b", 0, 2, height=32), _job("c", 0, 3), _job("d", 0, 1)]
    jobs += [_job("e", 0, 1)]
    assert _finetunes(Sine().edit_units(jobs)) == [("a",), ("b",), ("c",), ("d",), ("e",)]
