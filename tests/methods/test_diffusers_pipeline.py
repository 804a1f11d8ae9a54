"""The diffusers-pipeline editor on tiny random checkpoints of the real architectures:
InstructPix2Pix (8-channel UNet) and LEDITS++ (inversion, then edit), end to end."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sine_bench.methods.diffusers_pipeline import (
    CALL_KNOBS,
    DiffusersPipelineEditor,
    PipelineEditorError,
    caption_only,
)
from sine_bench.models.tiny_random import save_tiny_editing_pipeline

TARGET = "sine_bench.methods.diffusers_pipeline:DiffusersPipelineEditor"
IP2P = "StableDiffusionInstructPix2PixPipeline"
LEDITS = "LEditsPPPipelineStableDiffusion"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("pipelines")
    return {name: str(save_tiny_editing_pipeline(name, root / name)) for name in (IP2P, LEDITS)}


@pytest.fixture(scope="module")
def editors() -> dict[str, DiffusersPipelineEditor]:
    """One editor per pipeline, so each checkpoint loads once in this module."""
    return {IP2P: DiffusersPipelineEditor(), LEDITS: DiffusersPipelineEditor()}


def _source(height: int = 32, width: int = 64) -> Image.Image:
    """A non-square image whose sides are multiples of 32 (LEDITS++ needs them)."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _knobs(pipeline: str, checkpoints: dict[str, str], **more) -> dict:
    steps = {"num_inversion_steps": 2} if pipeline == LEDITS else {"num_inference_steps": 2}
    return {"pipeline": pipeline, "checkpoint": checkpoints[pipeline], **steps, **more}


@pytest.mark.parametrize("pipeline", [IP2P, LEDITS])
def test_edits_at_the_source_size_deterministically_per_seed(
    one_thread, checkpoints, editors, pipeline
):
    editor = editors[pipeline]
    knobs = _knobs(pipeline, checkpoints)
    editor.check(**knobs)
    source = _source()
    first = editor.edit(source, "a photo", "a red photo", 0, **knobs)
    again = editor.edit(source, "a photo", "a red photo", 0, **knobs)
    other = editor.edit(source, "a photo", "a red photo", 1, **knobs)
    assert isinstance(first, Image.Image) and first.size == source.size and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_knobs_and_the_template_reach_the_pipeline(one_thread, checkpoints, editors):
    editor, source = editors[IP2P], _source()
    base = editor.edit(source, "a photo", "a red photo", 0, **_knobs(IP2P, checkpoints))
    variants = [
        {"image_guidance_scale": 3.0},
        {"prompt_template": "make it {target_prompt}"},
        {"negative_prompt": "blurry"},
        {"extra": "{eta: 1.0}", "scheduler": "DDIMScheduler"},
    ]
    for more in variants:
        if "scheduler" in more:  # another load: keep the shared editor's pipeline
            editor = DiffusersPipelineEditor()
        out = editor.edit(source, "a photo", "a red photo", 0, **_knobs(IP2P, checkpoints, **more))
        assert not np.array_equal(np.asarray(out), np.asarray(base)), more


def test_an_output_of_another_size_is_an_error_naming_the_editor(one_thread, checkpoints, editors):
    # the tiny VAE works in multiples of 4: InstructPix2Pix rounds 34 down to 32
    with pytest.raises(PipelineEditorError, match=f"diffusers-pipeline editor \\({IP2P}\\)"):
        editors[IP2P].edit(_source(34, 34), "a", "b", 0, **_knobs(IP2P, checkpoints))


def test_a_pipeline_input_error_is_one_line_naming_the_editor(one_thread, checkpoints, editors):
    # LEDITS++ takes sides in multiples of 32 only
    with pytest.raises(PipelineEditorError, match="invert failed: .*factor of 32") as err:
        editors[LEDITS].edit(_source(48, 64), "a", "b", 0, **_knobs(LEDITS, checkpoints))
    assert "\n" not in str(err.value) and LEDITS in str(err.value)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"pipeline": "StableDiffusionInstructPixPipeline"}, f"did you mean {IP2P}"),
        ({"pipeline": "AutoencoderKL"}, "is not a diffusers pipeline class"),
        ({"pipeline": "no_such_module:Pipe"}, "cannot import no_such_module"),
        ({"checkpoint": ""}, "knob 'checkpoint' is required"),
        ({"checkpoint": "/no/such/folder"}, "no such folder, nor a hub id in the local cache"),
        ({"checkpoint": "someone/not-cached"}, "downloads nothing"),
        ({"prompt_template": "{instruction}"}, "unknown placeholder {instruction}"),
        ({"dtype": "float8"}, "knob 'dtype' must be one of"),
        ({"scheduler": "DDIMSchedular"}, "did you mean DDIMScheduler"),
        ({"pipeline": LEDITS, "image_guidance_scale": 2.0}, "'image_guidance_scale': LEdits"),
        ({"extra": "{no_such_parameter: 1}"}, "takes no parameter 'no_such_parameter'"),
        ({"extra": "{guidance_scale: 2.0}"}, "set by the editor or a knob"),
        ({"extra": "[eta]"}, "is not a mapping of parameter names"),
        ({"pipeline": "StableDiffusionPipeline"}, "takes no image: not an image-editing"),
    ],
)
def test_bad_knobs_are_one_line_before_any_compute(checkpoints, knobs, message):
    knobs = {"pipeline": IP2P, "checkpoint": checkpoints[IP2P]} | knobs
    with pytest.raises(PipelineEditorError, match=message) as err:
        editor = DiffusersPipelineEditor()
        editor.check(**knobs)
        editor.edit(_source(), "a", "b", 0, **knobs)
    assert "\n" not in str(err.value) and str(err.value).startswith("diffusers-pipeline editor")


def test_a_folder_without_model_index_is_refused(tmp_path):
    with pytest.raises(PipelineEditorError, match="no model_index.json"):
        DiffusersPipelineEditor().check(checkpoint=str(tmp_path))


def test_knob_defaults_are_the_types_a_protocol_is_checked_against():
    knobs = DiffusersPipelineEditor.knobs
    assert all(type(v) in (bool, int, float, str) for v in knobs.values())
    assert set(CALL_KNOBS) <= set(knobs) and isinstance(DiffusersPipelineEditor.version, str)


def test_a_protocol_runs_it_by_name_and_by_class_and_reruns_from_the_store(
    one_thread, tmp_path, checkpoints, monkeypatch, protocol_classes
):
    """A grid over two checkpoints loads each once (edits run grouped by knob setting);
    the rerun computes nothing; new weights at the same path recompute that
    checkpoint's edits alone (its content, not its path, is in the keys)."""
    import json
    import shutil

    import pandas as pd

    from sine_bench.methods import diffusers_pipeline
    from sine_bench.runner.run import run_protocol
    from tests.helpers import write_protocol
    from tests.methods.helpers import toy_dataset

    copy = str(shutil.copytree(checkpoints[IP2P], tmp_path / "ip2p-copy"))
    loads: list[str] = []
    load = diffusers_pipeline.load_pipeline
    monkeypatch.setattr(
        diffusers_pipeline, "load_pipeline", lambda k: loads.append(k["checkpoint"]) or load(k)
    )
    ip2p = {"pipeline": IP2P, "num_inference_steps": 2}
    ledits = {"pipeline": LEDITS, "checkpoint": checkpoints[LEDITS], "num_inversion_steps": 2}
    sweep = {"image_guidance_scale": [1.5, 2.0], "checkpoint": [checkpoints[IP2P], copy]}
    methods = {
        "diffusers-pipeline": {"knobs": ip2p, "grid": sweep},
        "ledits": {"class": TARGET, "knobs": ledits},
    }
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    data = toy_dataset(tmp_path / "data", [20_000_000])
    path = write_protocol(tmp_path, dataset=str(data), methods=methods, grid=grid, metrics=["psnr"])

    def run() -> tuple[pd.DataFrame, dict]:
        out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
        return pd.read_csv(out / "cells.csv"), json.loads((out / "manifest.json").read_text())

    cells, _ = run()
    assert sorted(cells["method"]) == ["diffusers-pipeline"] * 4 + ["ledits"]
    assert (cells["cost.edit_seconds"] > 0).all() and cells["psnr"].notna().all()
    assert sorted(loads) == sorted([checkpoints[IP2P], copy, checkpoints[LEDITS]])
    _, manifest = run()
    assert manifest["all_cached"], manifest["stages"]
    assert len(loads) == 3
    save_tiny_editing_pipeline(IP2P, copy, seed=1)  # other weights, same path and sizes
    again, manifest = run()
    assert manifest["stages"]["edit"]["computed"] == 2, manifest["stages"]
    assert loads[3:] == [copy]
    changed = cells["psnr"] != again["psnr"]
    assert list(cells.loc[changed, "diffusers-pipeline.checkpoint"]) == [copy, copy]


def test_a_missing_checkpoint_is_one_line_at_plan_time(tmp_path):
    from typer.testing import CliRunner

    from sine_bench.cli import app
    from tests.helpers import write_protocol

    knobs = {"pipeline": IP2P, "checkpoint": str(tmp_path / "nowhere")}
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    path = write_protocol(tmp_path, methods={"diffusers-pipeline": {"knobs": knobs}}, grid=grid)
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress", "--threads", "1"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "diffusers-pipeline editor" in lines[0] and "nowhere" in lines[0]
    assert not (tmp_path / "store" / "edits").exists()


def test_pipelines_that_edit_from_captions_are_told_apart_by_their_steps():
    import diffusers

    reasons = {
        name: caption_only(getattr(diffusers, name))
        for name in (IP2P, "FluxKontextPipeline", "QwenImageEditPipeline", LEDITS)
        + ("StableDiffusionImg2ImgPipeline", "CycleDiffusionPipeline")
    }
    assert reasons == {
        IP2P: None,
        "FluxKontextPipeline": None,
        "QwenImageEditPipeline": None,
        LEDITS: "it inverts the source from its caption",
        "StableDiffusionImg2ImgPipeline": "it takes strength: img2img towards a caption of the "
        "result",
        "CycleDiffusionPipeline": "it takes source_prompt",
    }
    editor = DiffusersPipelineEditor()
    for kind in ("caption", "instruction"):
        editor.check_prompts(kind, pipeline=IP2P)
    editor.check_prompts("caption", pipeline=LEDITS)
    with pytest.raises(PipelineEditorError, match=f"\\({LEDITS}\\): edits from captions"):
        editor.check_prompts("instruction", pipeline=LEDITS)


def test_a_caption_pipeline_on_instructions_is_one_line_at_plan_time(tmp_path, checkpoints):
    from typer.testing import CliRunner

    from sine_bench.cli import app
    from tests.helpers import ROOT, write_protocol

    item = {"id": "a", "image": str(ROOT / "datasets" / "toy-smoke" / "blue-circle.png")}
    item |= {"class_word": "circle", "prompts": ["make it red"], "prompt_kind": "instruction"}
    knobs = {"pipeline": LEDITS, "checkpoint": checkpoints[LEDITS]}
    grid = {"v": None, "K": None, "resolution": ["64x64"], "seeds": [0]}
    methods = {"diffusers-pipeline": {"knobs": knobs}}
    path = write_protocol(
        tmp_path, dataset={"items": [item]}, methods=methods, grid=grid, metrics=["psnr"]
    )
    result = CliRunner().invoke(app, ["plan", str(path)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"diffusers-pipeline editor ({LEDITS}): edits from captions" in lines[0]
    assert "prompts are instructions" in lines[0]
