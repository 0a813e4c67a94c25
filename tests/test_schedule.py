"""Learning-rate schedules, including runs too short for a one-cycle shape."""

import pytest
import torch

from vitcore.train.schedule import build_scheduler


@pytest.mark.parametrize("schedule", ["constant", "cosine", "onecycle"])
@pytest.mark.parametrize("steps_per_epoch, epochs", [(1, 1), (2, 1), (1, 3), (10, 3)])
def test_every_schedule_steps_through_short_and_long_runs(schedule, steps_per_epoch, epochs):
    weights = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weights], lr=0.1, momentum=0.9)
    scheduler = build_scheduler(optimizer, schedule, 0.1, steps_per_epoch, epochs, warmup_epochs=0.0)
    learning_rates = []
    for _ in range(steps_per_epoch * epochs):
        learning_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert all(0.0 <= lr <= 0.1 + 1e-12 for lr in learning_rates)
    if schedule == "constant":
        assert learning_rates == [pytest.approx(0.1)] * len(learning_rates)
