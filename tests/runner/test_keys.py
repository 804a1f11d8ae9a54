"""Keys: anything that can change an artifact's bytes changes its key."""

import hashlib
import os
import time

from sine_bench import file_digests
from sine_bench.methods.sine import finetune_settings
from sine_bench.protocol.sections import FinetuneSpec
from sine_bench.runner.keys import (
    _dir_identity,
    digest,
    edit_key,
    finetune_key,
    model_identity,
)


def _ft_key(**changes):
    settings = finetune_settings(FinetuneSpec(**changes), 64, 4)
    return finetune_key("img", {"kind": "m"}, "a photo of a sks disc", settings)


def test_every_finetune_setting_changes_the_key():
    """A setting cannot change 'under' an existing key: a changed setting is a new key."""
    base = _ft_key()
    variants = [
        {"steps": 801},
        {"lr": 2e-6},
        {"method": "sine-full"},
        {"patch_grid": 40},
        {"patch_min_frac": 0.2},
        {"patch_interpolation": "nearest"},
        {"x0_l1_weight": 0.1},
        {"train_text_encoder": False},
        {"seed": 1},
        {"weight_decay": 0.0},
    ]
    keys = {_ft_key(**v) for v in variants}
    assert base not in keys and len(keys) == len(variants)


def test_patch_interpolation_default_keeps_the_old_key():
    """The knob came after the first keys: its default is what PatchSettings always stored."""
    assert _ft_key() == _ft_key(patch_interpolation="bilinear")
    patches = finetune_settings(FinetuneSpec(patch_interpolation="nearest"), 64, 4)["patches"]
    assert patches["interpolation"] == "nearest"


def test_image_model_and_prompt_change_the_key():
    settings = finetune_settings(FinetuneSpec(), 64, 4)
    base = finetune_key("a", {"w": "1"}, "p", settings)
    assert base != finetune_key("b", {"w": "1"}, "p", settings)
    assert base != finetune_key("a", {"w": "2"}, "p", settings)
    assert base != finetune_key("a", {"w": "1"}, "q", settings)


def test_edit_key_covers_settings_and_is_order_independent():
    a = edit_key("ft", "p", {"v": 0.7, "K": 400})
    assert a == edit_key("ft", "p", {"K": 400, "v": 0.7})
    assert a != edit_key("ft", "p", {"v": 0.7, "K": 401})
    assert digest({"x": 1}) != digest({"x": 2})


def test_tiny_random_identity_is_stable_and_seeded():
    assert model_identity("tiny-random") == model_identity("tiny-random")
    assert model_identity("tiny-random", seed=1) != model_identity("tiny-random")
    # a half-precision run computes other fine-tunes and edits: other keys
    assert model_identity("tiny-random", dtype="bfloat16") != model_identity("tiny-random")
    assert model_identity("tiny-random", dtype="float32") == model_identity("tiny-random")


def test_input_preparation_enters_only_the_keys_it_changes():
    """Antialiased downscales and normalised decoding (preparation 2) change a fine-tune's
    input only where it downscales or converts: only those keys move."""
    from sine_bench.methods.preparation import input_preparation

    full = finetune_settings(FinetuneSpec(method="sine-full"), 64, 4)
    patch = finetune_settings(FinetuneSpec(method="sine-patch"), 64, 4)  # canvas 32*4 = 128
    assert input_preparation((64, 64), 64, 4, full, []) == {}  # identity: the key as before
    assert input_preparation((64, 96), 64, 4, full, [])["downscale"] == "antialiased"
    assert input_preparation((64, 64), 64, 4, patch, [])["downscale"] == "antialiased"  # crops
    small_canvas = finetune_settings(FinetuneSpec(method="sine-patch", patch_grid=16), 64, 4)
    assert input_preparation((64, 64), 64, 4, small_canvas, []) == {}  # crops only upscale
    rotated = input_preparation((64, 64), 64, 4, full, ["EXIF orientation 6 applied"])
    assert rotated["decoded"] == ["EXIF orientation 6 applied"]
    assert finetune_key("img", {}, "p", full, rotated) != finetune_key("img", {}, "p", full)
    assert finetune_key("img", {}, "p", full, {}) == finetune_key("img", {}, "p", full)


def test_cached_fine_tunes_of_unchanged_inputs_keep_their_keys():
    """The first paper-toy fine-tune (a 64x64 PNG, sine-full on the toy model) has had this
    key since the first reproduction: a store made then is still valid."""
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.plan import build_plan
    from tests.helpers import ROOT

    plan = build_plan(load_protocol(ROOT / "protocols" / "paper-v-sweep.yaml"), ROOT)
    first = min(plan.finetunes.values(), key=lambda job: job.item)
    assert (first.item, first.key) == ("scene-00", "05170ed8f2e030773bfc")


def _methods_plan(tmp_path, image_side: int, transparent: bool = False):
    """A plan of the source-reading methods on one toy scene of ``image_side`` pixels
    (the toy model's native size is 64), optionally with a transparent corner."""
    import yaml
    from PIL import Image

    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.plan import build_plan
    from sine_bench.toy.scenes import random_scene, render
    from tests.helpers import write_protocol

    data = tmp_path / f"data-{image_side}-{transparent}"
    data.mkdir()
    scene = random_scene(20_003_000, n_objects=1, striped_prob=0.0)
    img = Image.fromarray(render(scene, 64, 64)).resize((image_side, image_side))
    if transparent:
        img = img.convert("RGBA")
        img.putpixel((0, 0), (0, 0, 0, 0))
    img.save(data / "s.png")
    item = {"id": "s", "image": "s.png", "class_word": scene.objects[0].shape}
    item |= {"source": scene.caption(), "prompts": [scene.caption()]}
    (data / "manifest.yaml").write_text(yaml.safe_dump({"items": [item]}))
    methods = {"sdedit": {}, "ddim-inversion": {}, "imagic": {}}
    grid = {"v": None, "K": None, "resolution": ["native"], "seeds": [0]}
    path = write_protocol(
        data, model={"name": "toy"}, dataset=str(data), methods=methods, grid=grid, metrics=[]
    )
    return build_plan(load_protocol(path))


def _recipe_keys(plan, preparation: dict) -> dict[str, tuple[str, str]]:
    """Each method's (training key, edit key) re-derived with ``preparation``."""
    image = plan.image_sha["s"]
    keys = {}
    for entry in plan.cells:
        job = plan.edits[entry.edit]
        training = plan.finetunes.get(entry.finetune)
        if training is not None:  # imagic: its own training at the native size
            ft = finetune_key(image, plan.model_id, training.prompt, training.settings, preparation)
            keys[entry.cell.method] = (ft, edit_key(ft, job.prompt, job.settings))
        else:  # the source latent at the edit size
            source = {"model": plan.model_id, "image": image}
            base = digest(source | ({"preparation": preparation} if preparation else {}))
            keys[entry.cell.method] = ("", edit_key(base, job.prompt, job.settings))
    return keys


def test_source_reading_methods_key_their_input_preparation(tmp_path):
    """sdedit, ddim-inversion (the source latent at the edit size) and imagic's training
    (at the native size) read the source: a downscale of it (now antialiased) or a
    conversion on load enters their keys; a source read as it is leaves the keys as the
    methods first stored them."""
    by_method = lambda plan: {c.cell.method: (c.finetune, c.edit) for c in plan.cells}  # noqa: E731
    as_is = _methods_plan(tmp_path, 64)
    assert by_method(as_is) == _recipe_keys(as_is, {})
    larger = _methods_plan(tmp_path, 96)
    assert by_method(larger) == _recipe_keys(larger, {"version": "2", "downscale": "antialiased"})
    converted = _methods_plan(tmp_path, 64, transparent=True)
    notes = converted.image_notes["s"]
    assert notes == ["transparent pixels composited on white"]
    assert by_method(converted) == _recipe_keys(converted, {"version": "2", "decoded": notes})


def test_a_folder_identity_is_the_plain_hash_and_is_read_once(tmp_path, monkeypatch):
    """A local checkpoint folder's identity is the sha256 over each file's relative path
    and content hash (so keys do not move), and an unchanged folder is not read again."""
    monkeypatch.setenv("SINE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(file_digests, "_KNOWN", {})
    monkeypatch.setattr(file_digests, "_loaded_from", None)
    monkeypatch.setattr(file_digests, "RACY_SECONDS", 0.0)
    folder = tmp_path / "model"
    files = {"model_index.json": b"{}", "unet/w.bin": b"u" * 3000, "vae/w.bin": b"v" * 10}
    stamp = time.time() - 60
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        os.utime(folder / rel, (stamp, stamp))
    old = hashlib.sha256()
    for rel in sorted(files):
        old.update(rel.encode())
        old.update(hashlib.sha256(files[rel]).hexdigest().encode())
    reads: list[str] = []
    real = file_digests.file_sha256
    monkeypatch.setattr(file_digests, "file_sha256", lambda p: reads.append(p) or real(p))
    assert _dir_identity(folder) == old.hexdigest()
    assert len(reads) == 3
    assert _dir_identity(folder) == old.hexdigest()
    assert len(reads) == 3  # the second call read no file's content
