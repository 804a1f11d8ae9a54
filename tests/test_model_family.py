"""Checkpoints sine-bench cannot run (SDXL first) are refused by plan and run in one
line naming the family, before anything loads; SD 1.x / 2.x pass."""

import json

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.model_family import UnsupportedModelError, check_family, check_model, model_family
from sine_bench.models.loading import load_model, save_model
from tests.helpers import write_protocol

runner = CliRunner()


def _sdxl_dir(tmp_path, tiny_model):
    """A diffusers folder whose model_index says SDXL (two text encoders)."""
    folder = tmp_path / "sdxl"
    save_model(tiny_model, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionXLPipeline"
    index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    index["tokenizer_2"] = ["transformers", "CLIPTokenizer"]
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize("command", ["plan", "run"])
def test_sdxl_directory_is_one_line_naming_the_family(tmp_path, tiny_model, command):
    folder = _sdxl_dir(tmp_path, tiny_model)
    protocol = write_protocol(tmp_path, model={"name": str(folder)})
    extra = ["--no-progress"] if command == "run" else []
    result = runner.invoke(app, [command, str(protocol), *extra])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "SDXL checkpoints (StableDiffusionXLPipeline) are not supported" in lines[0]
    assert not (tmp_path / "store").exists()


def test_loading_an_sdxl_directory_fails_before_diffusers(tmp_path, tiny_model):
    with pytest.raises(UnsupportedModelError, match="SDXL"):
        load_model(str(_sdxl_dir(tmp_path, tiny_model)), device="cpu")


def test_known_hub_ids_are_judged_offline():
    """Uncached well-known ids: SDXL refused, SD 2.1 (768, v-prediction) accepted."""
    with pytest.raises(UnsupportedModelError, match="SDXL"):
        check_model("stabilityai/stable-diffusion-xl-base-1.0")
    check_model("stabilityai/stable-diffusion-2-1")
    assert model_family("stabilityai/stable-diffusion-2-1").prediction_type == "v_prediction"
    assert model_family("someone/unknown-model") is None  # unknown yet: weights check decides


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"index": {"_class_name": "FluxPipeline"}}, "FLUX checkpoints"),
        ({"unet": {"in_channels": 9}}, "takes 9 input channels"),
        ({"scheduler": {"prediction_type": "flow"}}, "prediction_type 'flow'"),
        ({"index": {"text_encoder": ["transformers", "T5EncoderModel"]}}, "T5EncoderModel"),
    ],
)
def test_other_unsupported_variants(tmp_path, tiny_model, change, needle):
    folder = tmp_path / "m"
    save_model(tiny_model, folder)
    files = {
        "index": folder / "model_index.json",
        "unet": folder / "unet" / "config.json",
        "scheduler": folder / "scheduler" / "scheduler_config.json",
    }
    for part, values in change.items():
        data = json.loads(files[part].read_text()) | values
        files[part].write_text(json.dumps(data))
    with pytest.raises(UnsupportedModelError, match=needle):
        check_model(str(folder))


def test_supported_models_pass(tmp_path, tiny_model):
    for name in ("tiny-random", "toy"):
        check_model(name)
    save_model(tiny_model, tmp_path / "sd")
    check_model(str(tmp_path / "sd"))
    check_family("x", None)  # unknown: no verdict
