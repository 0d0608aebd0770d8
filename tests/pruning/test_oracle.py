"""The ground-truth oracle pruners: what they keep, and that they are never offered for serving."""

import pytest
import torch

from fastdrive.evaluation.token_metrics import OBJECT_CLASSES, ROAD_CLASSES, SEMANTIC_CLASSES
from fastdrive.pruning import PruningContext, build_pruner, is_evaluation_only, list_pruners
from fastdrive.pruning.oracle import OBJECT_IDS, ROAD_IDS, OracleError


def _shares():
    """6 tokens: 0 sky, 1 road, 2 half car / half road, 3 pedestrian, 4 building, 5 mostly road + a sign pixel."""
    s = torch.zeros(1, 6, len(SEMANTIC_CLASSES))
    s[0, 0, 0] = 1.0
    s[0, 1, 5] = 1.0
    s[0, 2, 8], s[0, 2, 5] = 0.5, 0.5
    s[0, 3, 11] = 1.0
    s[0, 4, 1] = 1.0
    s[0, 5, 5], s[0, 5, 15] = 0.9, 0.1
    return s


def test_ids_match_the_semantic_classes():
    assert [SEMANTIC_CLASSES[i] for i in ROAD_IDS] == list(ROAD_CLASSES)
    assert [SEMANTIC_CLASSES[i] for i in OBJECT_IDS] == list(OBJECT_CLASSES)


@pytest.mark.parametrize("name, keep, expect", [
    ("oracle_fg", 3, [1, 2, 3]),     # cells 1, 2, 3, 5 are all fully foreground: the lowest indices win
    ("oracle_obj", 3, [2, 3, 5]),    # every cell with object pixels before pure road
    ("oracle_obj", 4, [1, 2, 3, 5]),
    ("oracle_bg", 2, [0, 4]),        # the least foreground
])
def test_selection(name, keep, expect):
    tokens = torch.randn(1, 6, 8)
    sel = build_pruner(name).select(tokens, keep, PruningContext(extra={"token_classes": _shares()}))
    assert sel.indices.tolist() == [expect]


def test_needs_ground_truth_and_is_not_served():
    with pytest.raises(OracleError):
        build_pruner("oracle_fg").select(torch.randn(1, 6, 8), 3)
    with pytest.raises(OracleError):
        build_pruner("oracle_fg").select(torch.randn(1, 5, 8), 3, PruningContext(extra={"token_classes": _shares()}))
    served = list_pruners()
    assert not any(n.startswith("oracle") for n in served)
    assert {"oracle_fg", "oracle_obj", "oracle_bg"} <= set(list_pruners(include_oracles=True))
    assert is_evaluation_only("oracle_bg") and not is_evaluation_only("random")


def test_planner_refuses_an_oracle_without_ground_truth():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
    from tiny_planner import export_tiny_planner

    from fastdrive.planner import EgoState, EmbeddedPlanner, PlanningInputError, PruningSpec
    import numpy as np
    import tempfile

    path = export_tiny_planner(Path(tempfile.mkdtemp()) / "tiny.pth")
    planner = EmbeddedPlanner.from_checkpoint(str(path))
    frame = np.zeros((112, 168, 3), np.uint8)
    with pytest.raises(PlanningInputError, match="ground truth"):
        planner.plan(frame, EgoState(speed=5.0), "straight", PruningSpec("oracle_fg", 0.5))
    shares = torch.zeros(24, len(SEMANTIC_CLASSES))
    shares[:6, 8] = 1.0
    traj = planner.plan(frame, EgoState(speed=5.0), "straight",
                        PruningSpec("oracle_obj", 0.75, context={"token_classes": shares}))
    assert traj.num_kept == 6 and sorted(map(tuple, traj.kept_tokens[0].tolist())) == [(0, c) for c in range(6)]
