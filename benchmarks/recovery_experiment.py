"""Recovery fine-tuning of the embedded planner with the closed-loop simulator (an experiment).

Two steps, each resumable from its output:

* ``collect``: drive every train scene of a world from its start with noise-injected expert plans
  (``fastdrive.sim.closed_loop.recovery``) and store, per plan step, the front camera rendered
  from the car's true pose (JPEG, the world's size and quality) with the clean expert plan from
  there as the target: ``OUT/samples.json`` + ``OUT/images/*.jpg``.
* ``train``: fine-tune a planner file (default: the shipped one) on those samples with its own
  training loss (token drop and all), and export the result as a planner file.

Then drive it in closed loop: ``FASTDRIVE_MODEL_PATH=FILE python -m fastdrive.sim.closed_loop
--server local ...`` (the service it starts reads the variable).

Usage::

    python benchmarks/recovery_experiment.py collect --dataroot data/fastdrive_world --out data/recovery_seed1 \\
        [--episodes 2] [--seconds 15] [--seed 0]
    python benchmarks/recovery_experiment.py train --data data/recovery_seed1 --out recovery_planner.pth \\
        [--epochs 4] [--lr 2e-4] [--batch 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/recovery_experiment.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    c = sub.add_parser("collect", help="drive the train scenes with noise and store recovery samples")
    c.add_argument("--dataroot", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--episodes", type=int, default=2, help="noisy drives per scene")
    c.add_argument("--seconds", type=float, default=15.0)
    c.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train", help="fine-tune a planner file on the samples")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--init", default=None, help="planner file to start from (default: the shipped one)")
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def collect(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from fastdrive.sim.closed_loop.episode import Camera
    from fastdrive.sim.closed_loop.recovery import collect_episode
    from fastdrive.sim.closed_loop.replay import ReplayWorld

    world = ReplayWorld(args.dataroot)
    scenes = world.split("train")
    camera = Camera(("CAM_FRONT",), world.image_size, world.seed)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    index_path = os.path.join(args.out, "samples.json")
    index: List[dict] = json.load(open(index_path)) if os.path.isfile(index_path) else []
    done = {(s["scene"], s["episode"]) for s in index}
    jobs = [(s, e) for s in scenes for e in range(args.episodes)]
    for scene, ep in tqdm(jobs, desc="recovery episodes", unit="episode"):
        ep_rng = np.random.default_rng([args.seed, ep, int(scene.name.split("-")[-1])])
        if (scene.name, ep) in done or scene.duration < args.seconds:
            continue
        for k, s in enumerate(collect_episode(scene, camera, args.seconds, ep_rng)):
            name = f"{scene.name}_{ep}_{k:03d}.jpg"
            Image.fromarray(s["image"]).save(os.path.join(args.out, "images", name), quality=90, subsampling=2)
            index.append({"scene": scene.name, "episode": ep, "image": name, "speed": float(s["speed"]),
                          "accel": float(s["accel"]), "yaw_rate": float(s["yaw_rate"]), "command": s["command"],
                          "target": np.asarray(s["target"]).round(4).tolist()})
        tmp = index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(index, f)
        os.replace(tmp, index_path)  # resumable: a finished episode is never redone
    print(f"{len(index)} samples in {args.out}")
    return 0


def train(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from fastdrive.constants import COMMANDS
    from fastdrive.models.driving_vla import constant_velocity_past
    from fastdrive.models.driving_vla_io import export_driving_vla, load_driving_vla
    from fastdrive.planner import DEFAULT_CHECKPOINT

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(os.path.join(args.data, "samples.json")) as f:
        every = json.load(f)
    # a target that starts behind the car or more than 1.5 m aside within 0.5 s is not drivable: the
    # noise took the car too far (mostly inside intersections); leave those out
    index = [r for r in every if r["target"][0][0] >= 0.0 and abs(r["target"][0][1]) <= 1.5]
    print(f"{len(index)} of {len(every)} samples kept")
    model = load_driving_vla(args.init or DEFAULT_CHECKPOINT)
    w, h = model.image_size
    # decode and resize every image once, kept as uint8 at the model's input size
    cache = {}
    for r in index:
        img = np.array(Image.open(os.path.join(args.data, "images", r["image"])).convert("RGB"))
        t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
        small = model.resize_images(t)  # the planner's own resize
        cache[r["image"]] = (small[0] * 255.0).round().clamp(0, 255).to(torch.uint8)
    print(f"{len(cache)} images cached at {w}x{h}", flush=True)

    def batch(rows: List[dict]):
        imgs = [cache[r["image"]][None].float() / 255.0 for r in rows]
        state = torch.tensor([[r["speed"], r["accel"], r["yaw_rate"]] for r in rows], dtype=torch.float32)
        past = constant_velocity_past(state, 4)  # the constant-speed arc (yaw rate included) up to now
        return dict(imgs=torch.cat(imgs)[:, None], command=torch.tensor([COMMANDS.index(r["command"]) for r in rows]),
                    ego_state=state, past_traj=past, gt_traj=torch.tensor([r["target"] for r in rows]),
                    gt_valid=torch.ones(len(rows), 6, dtype=torch.bool))

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(index) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rng = np.random.default_rng(args.seed)
    model.train()
    t0, done = time.time(), 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(index))
        losses = []
        for i in range(0, len(order), args.batch):
            out = model(**batch([index[j] for j in order[i:i + args.batch]]), mode="loss")
            loss = sum(out.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            done += 1
        print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s, {done} steps)",
              flush=True)
    model.eval()
    size = export_driving_vla(model, args.out, meta={"recovery_finetune": {k: v for k, v in vars(args).items()}})
    print(f"wrote {args.out} ({size / 2**20:.1f} MB)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return collect(args) if args.step == "collect" else train(args)


if __name__ == "__main__":
    sys.exit(main())
