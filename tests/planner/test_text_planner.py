"""TextWaypointPlanner on a tiny local Qwen2.5-VL checkpoint that really answers in text.

The checkpoint (tests/planner/text_checkpoint.py) is random; the ``trained``
fixture teaches it, by teacher forcing on the planner's own prompt, to
answer one frame with the Impromptu-style text of a known trajectory in two
modes, so that ``plan()`` runs the whole path: processor, chat template,
greedy generate (with and without a pruner), decoding and parsing.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np
import pytest
import torch
from text_checkpoint import finetune, make_text_checkpoint, training_example

from fastdrive.planner.text_planner import TextWaypointPlanner
from fastdrive.planner.types import EgoState, PlanningInputError, PruningSpec
from fastdrive.vla.loading import CheckpointError
from fastdrive.vla.planning_text import PlanningParseError, format_planning_text, parse_planning_text

WAYPOINTS = np.array([[2.0, 0.1], [4.1, 0.3], [6.2, 0.7], [8.2, 1.2], [10.1, 1.9], [12.0, 2.7]])
EGO = EgoState(speed=4.0, accel=0.2, yaw_rate=0.05)
MODES = ("dist-dtheta", "x-y")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    return make_text_checkpoint(str(tmp_path_factory.mktemp("qwen_text") / "ckpt"))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (84, 112, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def trained(ckpt, frame):
    """``{mode: planner}`` sharing one model fine-tuned to answer ``frame`` / EGO / 'left'."""
    first = TextWaypointPlanner.from_pretrained(ckpt, mode=MODES[0], max_new_tokens=80)
    planners = {MODES[0]: first}
    for mode in MODES[1:]:
        planners[mode] = TextWaypointPlanner(first.model, first.processor, mode=mode, max_new_tokens=80)
    examples = [training_example(p, frame, EGO, "left", format_planning_text(WAYPOINTS, m))
                for m, p in planners.items()]
    loss = finetune(first.model, examples, steps=120, lr=1e-2)
    assert loss < 0.05, f"fine-tuning did not converge (loss {loss:.3f})"
    return planners


@pytest.fixture(scope="module")
def untrained(ckpt) -> TextWaypointPlanner:
    return TextWaypointPlanner.from_pretrained(ckpt, max_new_tokens=12)


# ------------------------------------------------------------------ (a) loading
def test_loads_by_path(untrained, frame):
    p = untrained
    assert p.model.config.image_token_id == p.processor.image_token_id
    inputs = p.encode(frame, EGO, "straight")
    ids = inputs["input_ids"]
    n = int((ids == p.image_token_id).sum())
    (rows, cols), = p.grids(inputs["image_grid_thw"])
    assert n == rows * cols > 0
    assert torch.equal(inputs["mm_token_type_ids"].bool(), ids == p.image_token_id)
    text = p.prompt(EGO, "straight")
    assert "GO STRAIGHT" in text and "speed 4.00 m/s" in text and text.endswith("<|im_start|>assistant\n")


def test_plain_prompt_fallback_matches_chat_template(untrained):
    proc = copy.copy(untrained.processor)
    proc.chat_template = None
    plain = TextWaypointPlanner(untrained.model, proc)
    assert plain.prompt(EGO, "right") == untrained.prompt(EGO, "right")


def test_max_pixels_override_shrinks_the_grid(ckpt, untrained, frame):
    small = TextWaypointPlanner.from_pretrained(ckpt, max_pixels=24 * 32)
    (r0, c0), = untrained.grids(untrained.encode(frame, EGO, 0)["image_grid_thw"])
    (r1, c1), = small.grids(small.encode(frame, EGO, 0)["image_grid_thw"])
    assert r1 * c1 * 64 <= 24 * 32 < r0 * c0 * 64


def test_missing_processor_is_a_clear_error(tmp_path):
    bare = make_text_checkpoint(str(tmp_path / "bare"), with_processor=False)
    with pytest.raises(CheckpointError, match="tokenizer.*image preprocessor"):
        TextWaypointPlanner.from_pretrained(bare)


def test_missing_or_broken_preprocessor_is_a_clear_error(ckpt, tmp_path):
    path = str(tmp_path / "noproc")
    shutil.copytree(ckpt, path)
    os.remove(os.path.join(path, "processor_config.json"))
    with pytest.raises(CheckpointError, match="image preprocessor") as info:
        TextWaypointPlanner.from_pretrained(path)
    assert "tokenizer (" not in str(info.value)
    with open(os.path.join(path, "processor_config.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(CheckpointError, match="cannot load the processor"):
        TextWaypointPlanner.from_pretrained(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        TextWaypointPlanner.from_pretrained(str(tmp_path / "nothing"))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="qwen2_5_vl"):
        TextWaypointPlanner.from_pretrained(str(tmp_path / "cfg"))


# ------------------------------------------------------- (b) the model answers
@pytest.mark.parametrize("mode", MODES)
def test_plan_returns_the_answered_trajectory(trained, frame, mode):
    traj = trained[mode].plan(frame, EGO, "left")
    expected_text = format_planning_text(WAYPOINTS, mode)
    assert traj.text == expected_text
    np.testing.assert_allclose(traj.waypoints, parse_planning_text(expected_text, mode), atol=1e-9)
    np.testing.assert_allclose(traj.waypoints, WAYPOINTS, atol=0.05)  # 2-decimal rounding of the text
    assert traj.waypoints.shape == (6, 2) and traj.waypoints.dtype == np.float64
    assert traj.num_kept == traj.num_visual == int(np.prod(traj.grids[0])) > 0
    assert traj.kept_tokens is None and traj.cameras == ["CAM_FRONT"] and not traj.pruning.active
    assert set(traj.timings) == {"preprocess", "model", "pruner", "total"}
    assert traj.timings["pruner"] == 0.0 and traj.timings["total"] >= traj.timings["model"] > 0


def test_plan_accepts_a_camera_mapping_and_command_index(trained, frame):
    traj = trained["x-y"].plan({"CAM_FRONT": frame, "CAM_BACK": frame[::-1]}, EGO, 0)
    np.testing.assert_allclose(traj.waypoints, WAYPOINTS, atol=0.006)


# ----------------------------------------------------------------- (c) pruning
def _prefill_lengths(model):
    """Record the prefill sequence length at the LLM input and at its last decoder layer."""
    seen, last = [], []

    def hook(module, args, kwargs):
        emb = kwargs.get("inputs_embeds")
        if emb is not None and not seen:
            seen.append(int(emb.shape[1]))

    def layer_hook(module, args, kwargs):
        hidden = args[0] if args else kwargs.get("hidden_states")
        if not last:
            last.append(int(hidden.shape[1]))

    lm = model.model.language_model
    return seen, last, [lm.register_forward_pre_hook(hook, with_kwargs=True),
                        lm.layers[-1].register_forward_pre_hook(layer_hook, with_kwargs=True)]


@pytest.mark.parametrize("method", ["random", "grid", "fastv"])
def test_plan_with_pruning(trained, frame, method):
    """The pruning checks run whether or not the pruned model's answer parses."""
    planner = trained["dist-dtheta"]
    spec = PruningSpec(method, 0.5)
    seen, last, hooks = _prefill_lengths(planner.model)
    traj = None
    try:
        traj = planner.plan(frame, EGO, "left", pruning=spec, session_id="s")
    except PlanningParseError as exc:  # the pruned model may answer differently; then it must fail cleanly
        assert "model answer" in str(exc) and "Navigation command" not in str(exc)  # new tokens only
    finally:
        for h in hooks:
            h.remove()
    inputs = planner.encode(frame, EGO, "left")
    full = int(inputs["input_ids"].shape[1])
    (rows, cols), = planner.grids(inputs["image_grid_thw"])
    dropped = rows * cols - (rows * cols) // 2
    # pre-LLM methods shorten the LLM's input; FastV (layer 2 of 4) the later layers' sequence
    assert last == [full - dropped]
    assert seen == [full if method == "fastv" else full - dropped]
    if traj is None:
        return
    assert traj.num_visual == rows * cols and traj.num_kept == traj.num_visual // 2
    kept, = traj.kept_tokens
    assert kept.shape == (traj.num_kept, 2) and kept.dtype == np.int64
    assert kept[:, 0].max() < rows and kept[:, 1].max() < cols and len({tuple(k) for k in kept}) == len(kept)
    assert traj.pruning == spec and traj.timings["pruner"] > 0
    assert traj.waypoints.shape == (6, 2) and isinstance(traj.text, str)


def test_two_cameras_with_pruning(trained, frame):
    base = trained["x-y"]
    planner = TextWaypointPlanner(base.model, base.processor, mode="x-y", max_new_tokens=80,
                                  cameras=("CAM_FRONT", "CAM_BACK"))
    frames = {"CAM_FRONT": frame, "CAM_BACK": frame[:, ::-1]}
    seen, _, hooks = _prefill_lengths(planner.model)
    traj = None
    try:
        traj = planner.plan(frames, EGO, "left", pruning=PruningSpec("grid", 0.5))
    except PlanningParseError as exc:
        assert "model answer" in str(exc) and "Navigation command" not in str(exc)
    finally:
        for h in hooks:
            h.remove()
    inputs = planner.encode(frames, EGO, "left")
    num_visual = sum(r * c for r, c in planner.grids(inputs["image_grid_thw"]))
    assert seen == [int(inputs["input_ids"].shape[1]) - (num_visual - num_visual // 2)]  # both images pruned
    if traj is None:
        return
    assert traj.cameras == ["CAM_FRONT", "CAM_BACK"] and len(traj.grids) == len(traj.kept_tokens) == 2
    assert traj.num_visual == sum(r * c for r, c in traj.grids)
    assert sum(len(k) for k in traj.kept_tokens) == traj.num_kept < traj.num_visual


# ------------------------------------------------------------ (d) garbage text
def test_untrained_model_answer_raises_parse_error(untrained, frame):
    with pytest.raises(PlanningParseError, match="model answer: '"):
        untrained.plan(frame, EGO, "right")


# ------------------------------------------------------------- (e) bad inputs
@pytest.mark.parametrize("case", ["command", "shape", "dtype", "camera", "single_for_two", "ego", "pruner"])
def test_bad_inputs(untrained, frame, case):
    planner, frames, ego, cmd, spec = untrained, frame, EGO, "left", None
    if case == "command":
        cmd = "up"
    elif case == "shape":
        frames = frame[..., 0]
    elif case == "dtype":
        frames = frame.astype(np.complex64)
    elif case == "camera":
        frames = {"CAM_BACK": frame}
    elif case == "single_for_two":
        planner = TextWaypointPlanner(untrained.model, untrained.processor, cameras=("CAM_FRONT", "CAM_BACK"))
    elif case == "ego":
        ego = EgoState(speed=float("nan"))
    else:
        spec = PruningSpec("no-such-pruner", 0.5)
    with pytest.raises(PlanningInputError):
        planner.plan(frames, ego, cmd, pruning=spec)


def test_unknown_mode_is_rejected(untrained):
    with pytest.raises(ValueError, match="unknown planning mode"):
        TextWaypointPlanner(untrained.model, untrained.processor, mode="feet")


# ------------------------------------------------------------------ batching
def test_a_left_padded_batch_answers_as_one_by_one(untrained, frame):
    """Prompts of different lengths in one generate (left padding) give each sample's own answer,
    unpruned and pruned (one pruning call for the batch, per-sample selections)."""
    from fastdrive.planner.types import PlanRequest

    p = untrained
    reqs = [PlanRequest(frame, EGO, "left"), PlanRequest(frame, EgoState(12.5, -1.0, 0.0), "straight")]
    batch = p.encode_batch(reqs)
    assert (batch["attention_mask"] == 0).sum(1).tolist() != [0, 0]  # really padded
    singles = [p.generate_text(p.encode(r.frames, r.ego_state, r.command)) for r in reqs]
    assert p.generate_texts(batch) == singles
    spec = PruningSpec("fastv", 0.5)
    with p.pool.pruning(spec, [None, None]) as call:
        pruned = p.generate_texts(batch)
    n = int((batch["input_ids"][0] == p.image_token_id).sum())
    assert call.last.num_kept.tolist() == [n // 2, n // 2]
    one_by_one = []
    for r in reqs:
        with p.pool.pruning(spec, [None]):
            one_by_one.append(p.generate_text(p.encode(r.frames, r.ego_state, r.command)))
    assert pruned == one_by_one


def test_plan_batch_on_the_trained_checkpoint(trained, frame):
    from fastdrive.planner.types import PlanRequest

    p = trained["dist-dtheta"]
    grid = PruningSpec("grid", 0.5)
    reqs = [PlanRequest(frame, EGO, "left", grid, "a"), PlanRequest(frame, EGO, "left", grid, "b"),
            PlanRequest(frame, EGO, "left")]
    batched = p.plan_batch(reqs)
    single = [p.plan_batch([r])[0] for r in reqs]
    for b, s in zip(batched, single):
        assert b.text == s.text and np.allclose(b.waypoints, s.waypoints)
    assert [t.batch_size for t in batched] == [2, 2, 1]
    assert batched[0].num_kept == batched[0].num_visual // 2 and batched[2].kept_tokens is None
    np.testing.assert_allclose(batched[0].waypoints, WAYPOINTS, atol=0.15)
