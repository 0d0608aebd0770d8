"""Do a planner's frozen visual tokens hold "moves off within 3 s" at a standstill? A linear-probe check.

Takes the merger output (the visual tokens every pruner sees) of every standstill sample
(``standstill_starts.standstill_indices``: speed < 0.3 m/s, no throttle, a full future) of the
training worlds, fits three small probes for "the logged ego moves more than 1 m in 3 s" and
prints their ROC AUC on the training samples and on the validation worlds:

* mean-pool + linear;
* attention-pool (one learned query) + a 64-unit MLP;
* linear over all tokens, flattened (position-aware).

AUC near 0.5 on new scenes: the tokens do not carry the answer in a form these probes read.
A planner trained with a go head (``DrivingVLA(go_weight>0)``) also gets that head's own AUC on
every split.

Usage::

    python benchmarks/standstill_probe.py --train data/fastdrive_world data/fastdrive_world_extra_seed3 \\
        --val data/fastdrive_world data/heldout_seed7
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np

from fastdrive.constants import GO_METRES
from standstill_starts import auc, standstill_indices


def visual_tokens(model, world: str, split: str, batch: int = 32) -> Tuple["torch.Tensor", np.ndarray]:  # noqa: F821
    """``(S, N, D)`` merger output of the standstill samples of ``world``/``split`` and their go labels."""
    import torch

    from fastdrive.datasets.planning import PlanningDataset

    ds = PlanningDataset(world, "v1.0-fastdrive", split, cameras=("CAM_FRONT",), image_size=tuple(model.image_size),
                         prev_frame=bool(getattr(model, "frame_pair", False)))
    idx = standstill_indices(ds)
    feats: List[torch.Tensor] = []
    labels: List[float] = []
    for k in range(0, len(idx), batch):
        items = [ds[i] for i in idx[k:k + batch]]
        stack = lambda key: torch.stack([it[key] for it in items])  # noqa: E731
        prev = stack("imgs_prev")[:, 0] if "imgs_prev" in items[0] else None
        with torch.no_grad():
            _, tok = model._plan(stack("imgs")[:, 0], stack("command"), stack("ego_state"), stack("past_traj"),
                                 visual_tokens=True, imgs_prev=prev)
        feats.append(tok.float())
        labels += [float(it["gt_traj"][-1, 0]) > GO_METRES for it in items]
    return torch.cat(feats), np.array(labels, bool)


def fit_probe(kind: str, x, y, epochs: int = 300, seed: int = 0):
    """A probe of ``kind`` ('mean', 'attn', 'flat') fitted with AdamW on standardised tokens; returns score(x)."""
    import torch

    torch.manual_seed(seed)
    mu, sd = x.mean((0, 1)), x.std((0, 1)) + 1e-6
    n, d = x.shape[1], x.shape[2]
    nets = {"mean": torch.nn.Linear(d, 1), "flat": torch.nn.Linear(n * d, 1),
            "attn": torch.nn.ModuleDict(dict(q=torch.nn.Linear(d, 1), v=torch.nn.Sequential(
                torch.nn.Linear(d, 64), torch.nn.GELU(), torch.nn.Linear(64, 1))))}
    net = nets[kind]

    def score(z):
        z = (z - mu) / sd
        if kind == "mean":
            return net(z.mean(1))[:, 0]
        if kind == "flat":
            return net(z.flatten(1))[:, 0]
        a = torch.softmax(net["q"](z)[..., 0], 1)
        return net["v"]((a[..., None] * z).sum(1))[:, 0]

    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-2)
    target = torch.as_tensor(y, dtype=torch.float32)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(score(x), target).backward()
        opt.step()
    return lambda z: score(z).detach().numpy()


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="standstill_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--train", nargs="+", required=True, help="worlds whose train split fits the probes")
    p.add_argument("--val", nargs="+", required=True, help="worlds whose val split scores them")
    p.add_argument("--checkpoint", default=None, help="planner file (default: the shipped one)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    from fastdrive.models.driving_vla_io import load_driving_vla
    from fastdrive.planner.embedded import DEFAULT_CHECKPOINT

    torch.set_num_threads(args.threads)
    try:
        model = load_driving_vla(args.checkpoint or DEFAULT_CHECKPOINT).eval()
    except Exception as exc:  # noqa: BLE001 -- a missing or foreign file: one line, no traceback
        print(f"standstill_probe: error: {exc}", file=sys.stderr)
        return 2
    parts = [visual_tokens(model, w, "train") for w in args.train]
    if not all(len(b) for _, b in parts):
        print("standstill_probe: error: a training world has no standstill sample", file=sys.stderr)
        return 2
    x, y = torch.cat([a for a, _ in parts]), np.concatenate([b for _, b in parts])
    vals = {w: visual_tokens(model, w, "val") for w in args.val}
    print(f"train: {len(y)} standstill samples ({int(y.sum())} go); "
          + "; ".join(f"{w} val: {len(b)} ({int(b.sum())} go)" for w, (_, b) in vals.items()))
    for kind, name in (("mean", "mean-pool linear"), ("attn", "attention-pool MLP"), ("flat", "flatten linear")):
        score = fit_probe(kind, x, y)
        line = [f"{name}: train AUC {auc(score(x), y):.3f}"]
        line += [f"{w} val AUC {auc(score(a), b):.3f}" for w, (a, b) in vals.items()]
        print("  ".join(line))
    if getattr(model, "go_head", None) is not None:
        with torch.no_grad():
            head = lambda z: model.go_head(z).float().numpy()  # noqa: E731
            line = [f"the model's go head: {w} train AUC {auc(head(a), b):.3f}" for w, (a, b) in zip(args.train, parts)]
            line += [f"{w} val AUC {auc(head(a), b):.3f}" for w, (a, b) in vals.items()]
        print("  ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
