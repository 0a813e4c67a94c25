"""Mean attention distance: in patches, weighted by attention, prefix tokens left out."""

import math

import torch

from vitcore.explain.attention_distance import mean_attention_distance, patch_distances


def test_patch_distances_on_a_grid():
    distances = patch_distances(4)  # (16, 16), patches in reading order
    assert distances.shape == (16, 16) and torch.all(distances.diagonal() == 0)
    assert distances[0, 1] == 1 and distances[0, 4] == 1 and math.isclose(float(distances[0, 15]), math.sqrt(18), rel_tol=1e-6)


def test_a_head_that_looks_at_itself_has_distance_zero_and_uniform_heads_the_grid_mean():
    grid, prefix = 4, 1
    tokens = prefix + grid * grid
    self_attention = torch.eye(tokens).expand(2, 3, tokens, tokens)  # (B, H, N, N): each token attends to itself
    uniform = torch.full((2, 3, tokens, tokens), 1 / tokens)  # (B, H, N, N)
    distances = mean_attention_distance([self_attention, uniform], num_prefix_tokens=prefix)  # (L=2, H=3)
    assert distances.shape == (2, 3)
    torch.testing.assert_close(distances[0], torch.zeros(3))
    expected_uniform = float(patch_distances(grid).mean())  # CLS column left out, rows renormalised over patches
    torch.testing.assert_close(distances[1], torch.full((3,), expected_uniform))


def test_a_head_that_looks_at_the_right_neighbour_has_distance_about_one():
    grid = 4
    weights = torch.zeros(1, 1, 16, 16)
    for patch in range(16):
        row, column = divmod(patch, grid)
        weights[0, 0, patch, row * grid + min(column + 1, grid - 1)] = 1.0  # the right neighbour (itself at the edge)
    distance = mean_attention_distance([weights], num_prefix_tokens=0)  # (1, 1)
    torch.testing.assert_close(distance, torch.tensor([[12 / 16]]))  # 12 patches have a right neighbour, 4 do not
