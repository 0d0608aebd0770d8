"""Every FastDrive error is either the caller's (4xx) or the model side's (5xx), under one base."""

from __future__ import annotations

import pytest

from fastdrive.errors import FastDriveError, InputError, ModelError
from fastdrive.models.driving_vla_io import PlannerCheckpointError
from fastdrive.planner.types import PlanningInputError
from fastdrive.pruning.oracle import OracleError
from fastdrive.pruning.recon_pruner import ReconCheckpointError
from fastdrive.vla.loading import CheckpointError
from fastdrive.vla.planning_text import PlanningParseError


@pytest.mark.parametrize("cls, kind, builtin", [
    (PlanningInputError, InputError, ValueError),
    (OracleError, InputError, ValueError),
    (ReconCheckpointError, ModelError, ValueError),
    (CheckpointError, ModelError, ValueError),
    (PlanningParseError, ModelError, ValueError),
    (PlannerCheckpointError, ModelError, RuntimeError),
])
def test_each_error_has_one_side_and_keeps_its_builtin_base(cls, kind, builtin):
    other = ModelError if kind is InputError else InputError
    assert issubclass(cls, kind) and issubclass(cls, FastDriveError) and not issubclass(cls, other)
    assert issubclass(cls, builtin)  # existing `except ValueError` code keeps working
    assert cls("x").http_status == (422 if kind is InputError else 500)


def test_a_planner_input_error_is_a_client_error():
    from fastdrive.planner.types import PruningSpec

    with pytest.raises(InputError) as info:
        PruningSpec("grid", 1.5)
    assert info.value.http_status == 422
