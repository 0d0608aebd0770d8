"""Small helpers shared by the data_tools CLIs."""

from __future__ import annotations

import argparse
import os

EXIT_BAD_INPUT = 2


def int_at_least(minimum: int):
    """argparse ``type=`` for integers ``>= minimum``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"int>={minimum}"  # argparse names the type in its messages
    return parse


class OneLineErrorParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump, no traceback) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def find_version(dataroot: str) -> str:
    """The only ``v*`` table folder in ``dataroot``; ValueError if none or several."""
    versions = sorted(d for d in os.listdir(dataroot)
                      if d.startswith("v") and os.path.isdir(os.path.join(dataroot, d)))
    if len(versions) != 1:
        raise ValueError(f"cannot infer --version in {dataroot}: found {versions or 'none'}")
    return versions[0]


def pick_sample(nusc, scene_index: int, sample_index: int, clamp: bool = False) -> str:
    """Token of keyframe ``sample_index`` of scene ``scene_index``.

    Args:
        nusc: a ``nuscenes.NuScenes`` instance.
        clamp: past the scene's end, return its last keyframe instead of
            raising ValueError.
    """
    if not 0 <= scene_index < len(nusc.scene):
        raise ValueError(f"--scene-index {scene_index} out of range (dataset has "
                         f"{len(nusc.scene)} scenes)")
    token = nusc.scene[scene_index]["first_sample_token"]
    for i in range(sample_index):
        nxt = nusc.get("sample", token)["next"]
        if not nxt:
            if clamp:
                break
            raise ValueError(f"--sample-index {sample_index} out of range (scene has {i + 1} keyframes)")
        token = nxt
    return token
