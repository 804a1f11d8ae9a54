"""The position encoding is added after conv_in, only on patch fine-tunes, and saved with them."""

import copy

import pytest
import torch

from sine_bench.sine.position import resize_table
from sine_bench.sine.unet import (
    PositionEncodingError,
    crop_boxes,
    enable_position_encoding,
    load_unet,
    load_unet_weights_into,
    position_encoding_config,
    save_unet,
)


def _inputs(model, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, h, w, generator=g)
    text = model.encode_text(["a red disc"])
    return z, torch.tensor([500]), text


def test_encoding_is_added_exactly_after_conv_in(tiny_model):
    unet = copy.deepcopy(tiny_model.unet)
    captured = {}

    def grab(module, args, kwargs):
        captured["x"] = args[0] if args else kwargs["hidden_states"]

    unet.down_blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    z, t, text = _inputs(tiny_model, 12, 20)
    with torch.no_grad():
        plain_conv = unet.conv_in(z)
        config = enable_position_encoding(unet, grid=16)
        unet(z, t, text)
    table = unet.sine_position_encoding.table
    expected = plain_conv + resize_table(table, (12, 20))[None]
    torch.testing.assert_close(captured["x"], expected)
    assert config.channels == unet.conv_in.out_channels == 32


def test_pretrained_unet_never_gets_the_encoding(tiny_model):
    assert position_encoding_config(tiny_model.unet) is None
    unet = copy.deepcopy(tiny_model.unet)
    enable_position_encoding(unet, grid=16)
    z, t, text = _inputs(tiny_model)
    with torch.no_grad():
        a = tiny_model.unet(z, t, text).sample
        b = unet(z, t, text).sample
    assert not torch.allclose(a, b, atol=1e-4)
    assert position_encoding_config(tiny_model.unet) is None
    assert "sine_position_encoding.table" not in unet.state_dict()


def test_crop_boxes_change_the_encoding(tiny_model):
    unet = copy.deepcopy(tiny_model.unet)
    enable_position_encoding(unet, grid=16)
    z, t, text = _inputs(tiny_model)
    with torch.no_grad():
        whole = unet(z, t, text).sample
        with crop_boxes(unet, [(0, 0, 16, 16)]):
            full_box = unet(z, t, text).sample
        with crop_boxes(unet, [(0, 0, 4, 4)]):
            corner = unet(z, t, text).sample
    torch.testing.assert_close(whole, full_box)
    assert not torch.allclose(whole, corner, atol=1e-4)
    with pytest.raises(PositionEncodingError), crop_boxes(tiny_model.unet, [(0, 0, 4, 4)]):
        pass


def test_save_load_keeps_encoding_and_refuses_mismatch(tiny_model, tmp_path):
    unet = copy.deepcopy(tiny_model.unet)
    config = enable_position_encoding(unet, grid=16)
    save_unet(unet, tmp_path / "u")
    loaded = load_unet(tmp_path / "u")
    assert position_encoding_config(loaded) == config
    z, t, text = _inputs(tiny_model, 8, 24)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, t, text).sample, unet(z, t, text).sample)
    with pytest.raises(PositionEncodingError, match="without one"):
        load_unet(tmp_path / "u", expect=None)
    with pytest.raises(PositionEncodingError, match="G=16"):
        load_unet(tmp_path / "u", expect=type(config)(grid=32, channels=32))
    plain = copy.deepcopy(tiny_model.unet)
    with pytest.raises(PositionEncodingError, match="silently drop"):
        load_unet_weights_into(plain, tmp_path / "u")
    save_unet(tiny_model.unet, tmp_path / "plain")
    with pytest.raises(PositionEncodingError, match="without a position encoding"):
        load_unet_weights_into(unet, tmp_path / "plain")
