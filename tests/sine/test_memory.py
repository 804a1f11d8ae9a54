"""The fine-tune's memory levers: pixel-neutral ones change nothing, the 8-bit optimiser
trains, each lever enters the settings dict (and so the key) only when set, and a lever
that cannot run here says so in one line."""

from types import SimpleNamespace

import pytest
import torch

from sine_bench.models.loading import load_model
from sine_bench.sine import FinetuneSettings, finetune
from sine_bench.sine import memory as memory_module
from sine_bench.sine.memory import (
    MissingLeverError,
    StepInBackward,
    levers_used,
    optimizer_factory,
    pretrained_offloaded,
)

PROMPT = "a photo of a sks disc"


def _params(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def _run(model, image, **levers):
    settings = FinetuneSettings(steps=3, learning_rate=1e-4, seed=3, **levers)
    return finetune(model, image, PROMPT, settings, progress=False)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_step_in_backward_is_bit_identical_to_one_adamw_on_cpu(
    tiny_model, source_image, checkpointing
):
    plain = _run(tiny_model, source_image, gradient_checkpointing=checkpointing)
    hooked = _run(
        tiny_model, source_image, gradient_checkpointing=checkpointing, step_in_backward=True
    )
    assert hooked.losses == plain.losses
    assert torch.equal(_params(hooked.model.unet), _params(plain.model.unet))
    assert torch.equal(_params(hooked.model.text_encoder), _params(plain.model.text_encoder))
    # the hooks are gone afterwards: a later backward through the model steps nothing
    assert not any(p._post_accumulate_grad_hooks for p in hooked.model.unet.parameters())


def test_offload_is_a_no_op_on_cpu(tiny_model, source_image):
    plain = _run(tiny_model, source_image)
    offloaded = _run(tiny_model, source_image, offload_pretrained=True)
    assert offloaded.losses == plain.losses
    assert torch.equal(_params(offloaded.model.unet), _params(plain.model.unet))


class _Module:
    """Records where it was moved."""

    def __init__(self) -> None:
        self.moves: list[str] = []

    def to(self, device):
        self.moves.append(str(device))
        return self


@pytest.mark.parametrize("fail", [False, True])
def test_offload_moves_the_pretrained_model_out_and_back(fail):
    model = SimpleNamespace(device=torch.device("cuda:1"), unet=_Module(), text_encoder=_Module())
    with pytest.raises(RuntimeError) if fail else memory_module.contextlib.nullcontext():  # noqa: SIM117
        with pretrained_offloaded(model, True, text_encoder_too=True):
            assert model.unet.moves == ["cpu"] and model.text_encoder.moves == ["cpu"]
            if fail:
                raise RuntimeError("training failed")
    assert model.unet.moves == ["cpu", "cuda:1"] == model.text_encoder.moves
    frozen_text = SimpleNamespace(
        device=torch.device("cuda"), unet=_Module(), text_encoder=_Module()
    )
    with pretrained_offloaded(frozen_text, True, text_encoder_too=False):
        pass
    assert frozen_text.text_encoder.moves == []  # the frozen base text encoder is in use


def test_levers_enter_the_settings_dict_only_when_set():
    default = FinetuneSettings().to_dict()
    for name in ("optimizer", "step_in_backward", "offload_pretrained", "lora"):
        assert name not in default
    assert "gradient_checkpointing" in default  # keyed since the first keys
    levers = dict(optimizer="adamw-8bit", step_in_backward=True, offload_pretrained=True)
    data = FinetuneSettings(**levers).to_dict()
    assert {k: data[k] for k in levers} == levers
    assert FinetuneSettings.from_dict(data) == FinetuneSettings(**levers)
    assert FinetuneSettings.from_dict(default) == FinetuneSettings()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        FinetuneSettings(optimizer="sgd")


def test_levers_used_fills_in_defaults():
    used = levers_used([{}, {"optimizer": "adamw-8bit", "gradient_checkpointing": True}])
    assert used["optimizer"] == ["adamw", "adamw-8bit"]
    assert used["gradient_checkpointing"] == [False, True]
    assert used["offload_pretrained"] == [False]


def test_step_in_backward_refuses_float16(source_image):
    model = load_model("tiny-random", dtype="float16")
    with pytest.raises(ValueError, match="step_in_backward cannot run with model.dtype float16"):
        _run(model, source_image, step_in_backward=True)


def test_missing_bitsandbytes_is_one_clear_line(monkeypatch):
    real = memory_module.importlib.import_module

    def no_bnb(name, *args):
        if name == "bitsandbytes":
            raise ModuleNotFoundError("No module named 'bitsandbytes'")
        return real(name, *args)

    monkeypatch.setattr(memory_module.importlib, "import_module", no_bnb)
    with pytest.raises(MissingLeverError) as err:
        optimizer_factory("adamw-8bit", 1e-4, (0.9, 0.999), 1e-8, 0.01)
    message = str(err.value)
    assert "\n" not in message and "bitsandbytes" in message and "sine-bench[memory]" in message


def test_adamw_8bit_trains_with_8_bit_state(tiny_model, source_image):
    pytest.importorskip("bitsandbytes")
    plain = _run(tiny_model, source_image)
    eight = _run(tiny_model, source_image, optimizer="adamw-8bit")
    hooked = _run(tiny_model, source_image, optimizer="adamw-8bit", step_in_backward=True)
    assert eight.losses[0] == plain.losses[0]  # same first batch; the updates then differ
    moved = _params(eight.model.unet) - _params(tiny_model.unet)
    plain_moved = _params(plain.model.unet) - _params(tiny_model.unet)
    assert float(moved.abs().mean()) > 0.5 * float(plain_moved.abs().mean())
    assert torch.equal(_params(hooked.model.unet), _params(eight.model.unet))
    big = torch.nn.Parameter(torch.zeros(64, 128))
    big.grad = torch.ones_like(big)
    optimizer = optimizer_factory("adamw-8bit", 1e-3, (0.9, 0.999), 1e-8, 0.01)([big])
    optimizer.step()
    assert optimizer.state[big]["state1"].dtype == torch.uint8


def test_step_in_backward_frees_each_gradient():
    layer = torch.nn.Linear(4, 4)
    make = optimizer_factory("adamw", 1e-3, (0.9, 0.999), 1e-8, 0.01)
    stepper = StepInBackward(list(layer.parameters()), make)
    before = _params(layer)
    layer(torch.ones(2, 4)).sum().backward()
    assert all(p.grad is None for p in layer.parameters())
    assert not torch.equal(_params(layer), before)
    stepper.remove()
