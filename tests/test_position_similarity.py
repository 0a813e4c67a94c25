"""Position-embedding similarity maps: one g x g map per patch position, 1 on its own cell."""

import torch

from vitcore.explain.position_similarity import position_similarity
from vitcore.models.config import ViTConfig
from vitcore.models.factory import build_model


def test_every_position_is_most_similar_to_itself():
    model = build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=16, depth=1, num_heads=2))
    maps = position_similarity(model.pos_embed, model.num_prefix_tokens, model.grid_size)  # (16, 4, 4)
    assert maps.shape == (16, 4, 4)
    for position in range(16):
        row, column = divmod(position, 4)
        torch.testing.assert_close(maps[position, row, column], torch.tensor(1.0))
        assert maps[position].max() <= 1.0 + 1e-6


def test_a_geometric_embedding_makes_neighbours_similar_and_the_prefix_is_left_out():
    grid = 3
    rows, columns = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    angles = torch.stack([rows.flatten(), columns.flatten()], dim=1).float() * 0.5  # (9, 2)
    patches = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)  # (9, 4): nearby cells, nearby vectors
    cls = torch.full((1, 4), 100.0)  # a CLS embedding that must not count
    maps = position_similarity(torch.cat([cls, patches])[None], num_prefix_tokens=1, grid=grid)  # (9, 3, 3)
    centre = maps[4]  # the middle cell's map
    assert centre[1, 1] > centre[0, 1] > centre[0, 0]  # itself, then a neighbour, then a corner
    torch.testing.assert_close(maps[0, 0, 1], maps[1, 0, 0])  # symmetric
