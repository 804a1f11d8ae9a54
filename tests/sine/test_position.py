import math

import pytest
import torch

from sine_bench.sine.position import (
    PositionEncodingConfig,
    encoding_for_boxes,
    resize_table,
    sinusoidal_table,
    slice_table,
)


def _formula(c: int, y: int, x: int, channels: int) -> float:
    """The spec written out independently: x half then y half, sin then cos, pos 1..G."""
    d = channels // 2
    n = d // 2
    axis_pos = (x + 1) if c < d else (y + 1)
    k = c % d
    j = k % n
    freq = math.exp(-j * math.log(10000.0) / (n - 1))
    return math.sin(axis_pos * freq) if k < n else math.cos(axis_pos * freq)


@pytest.mark.parametrize("channels,grid", [(32, 16), (320, 128)])
def test_table_equals_formula_at_chosen_cells(channels, grid):
    table = sinusoidal_table(PositionEncodingConfig(grid=grid, channels=channels))
    assert table.shape == (channels, grid, grid)
    cells = [
        (0, 0, 0),
        (1, 3, 5),
        (channels // 4, 2, 7),
        (channels // 2, 9, 1),
        (channels // 2 + channels // 4 + 1, 11, 4),
        (channels - 1, grid - 1, grid - 1),
    ]
    for c, y, x in cells:
        assert table[c, y, x].item() == pytest.approx(_formula(c, y, x, channels), abs=1e-6)


def test_x_half_depends_only_on_column_and_y_half_only_on_row():
    table = sinusoidal_table(PositionEncodingConfig(grid=8, channels=16))
    x_half, y_half = table[:8], table[8:]
    assert torch.equal(x_half, x_half[:, :1, :].expand_as(x_half))
    assert torch.equal(y_half, y_half[:, :, :1].expand_as(y_half))
    assert not torch.equal(x_half[:, 0, 0], x_half[:, 0, 1])


def test_aligned_crop_slice_resized_equals_region_of_whole_resize():
    # G = 8 resized to 15 (factor 2 between cell centres with align_corners=True);
    # a crop of 3x4 cells starting at (2, 1) resized to 5x7 covers rows 4..8, cols 2..8.
    table = sinusoidal_table(PositionEncodingConfig(grid=8, channels=16))
    whole = resize_table(table, (15, 15))
    crop = resize_table(slice_table(table, (2, 1, 5, 5)), (5, 7))
    torch.testing.assert_close(crop, whole[:, 4:9, 2:9], rtol=0, atol=1e-6)
    # and a different region does not match (the test can fail)
    assert not torch.allclose(crop, whole[:, 5:10, 2:9], atol=1e-3)


def test_nearest_resize_of_integer_upscale_repeats_cells():
    table = sinusoidal_table(PositionEncodingConfig(grid=4, channels=8, interpolation="nearest"))
    big = resize_table(table, (8, 8), "nearest")
    assert torch.equal(big[:, ::2, ::2], table)
    assert torch.equal(big[:, 1::2, 1::2], table)


def test_boxes_give_one_encoding_per_sample():
    table = sinusoidal_table(PositionEncodingConfig(grid=8, channels=16))
    out = encoding_for_boxes(table, [(0, 0, 8, 8), (0, 0, 4, 4)], (6, 6))
    assert out.shape == (2, 16, 6, 6)
    torch.testing.assert_close(out[0], resize_table(table, (6, 6)))
    assert encoding_for_boxes(table, None, (3, 5)).shape == (1, 16, 3, 5)


@pytest.mark.parametrize("box", [(0, 0, 9, 4), (3, 3, 3, 5), (-1, 0, 2, 2)])
def test_bad_crop_box_is_rejected(box):
    table = sinusoidal_table(PositionEncodingConfig(grid=8, channels=16))
    with pytest.raises(ValueError, match="crop box"):
        slice_table(table, box)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="channels"):
        PositionEncodingConfig(grid=8, channels=6)
    with pytest.raises(ValueError, match="interpolation"):
        PositionEncodingConfig(grid=8, channels=8, interpolation="bicubic")
