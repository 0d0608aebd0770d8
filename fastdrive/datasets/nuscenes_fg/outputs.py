"""Final outputs of a build: per-split indices and summaries, and merging shards.

See ``builder.py`` for the output layout.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

from . import _io
from .classes import FGClasses
from .index import build_index, index_filename, merge_indices, summarize
from .inputs import BuildError, BuildOptions, WorkItem, shard_tag

WORK_DIR = "_work"


def _metainfo(opts: BuildOptions, classes: FGClasses, segmenter_name: str, split: str) -> Dict[str, Any]:
    meta = {
        "dataset": "nuscenes-fg",
        "version": opts.version,
        "split": split,
        "nuscenes_dataroot": os.path.abspath(opts.dataroot),
        "segmenter": segmenter_name,
        "cameras": list(opts.cameras),
        "num_shards": opts.num_shards,
        "shard_id": opts.shard_id,
    }
    meta.update(classes.metainfo())
    return meta


def write_outputs(
    opts: BuildOptions,
    classes: FGClasses,
    segmenter_name: str,
    mine: List[WorkItem],
    items: List[WorkItem],
    entries: Dict[int, Dict[str, Any]],
    failures: Dict[int, Dict[str, Any]],
    tmp_dir: str,
) -> Dict[str, Any]:
    """Write the per-split indices and the summary of this shard (atomically, via ``tmp_dir``)."""
    split_names = sorted({i.split for i in items})
    split_of = {i.idx: i.split for i in mine}
    for split in split_names:
        chosen = [e for idx, e in entries.items() if split_of.get(idx) == split]
        index = build_index(_metainfo(opts, classes, segmenter_name, split), chosen)
        path = os.path.join(opts.out, index_filename(split, opts.shard_id, opts.num_shards))
        _io.atomic_write_json(path, index, tmp_dir)
    summary = summarize([entries[k] for k in sorted(entries)], list(failures.values()), classes.names)
    summary.update(
        {"splits": split_names, "shard": [opts.shard_id, opts.num_shards], "planned_images": len(mine)}
    )
    name = (
        "summary.json"
        if opts.num_shards == 1
        else f"summary.{shard_tag(opts.shard_id, opts.num_shards)}.json"
    )
    _io.atomic_write_json(os.path.join(opts.out, name), summary, tmp_dir)
    return summary


def merge_shards(out: str, num_shards: Optional[int] = None) -> Dict[str, Any]:
    """Merge the shard indices and summaries in ``out`` into the final files.

    Args:
        out: the output directory the shards wrote to.
        num_shards: expected shard count (default: read from the files found).

    Returns:
        The merged summary (also written to ``summary.json``).

    Raises:
        BuildError: no shard files, or shards missing / from different runs.
    """
    if not os.path.isdir(out):
        raise BuildError(f"output directory not found: {out}")
    names = sorted(os.listdir(out))
    summaries = [n for n in names if n.startswith("summary.shard-") and n.endswith(".json")]
    if not summaries:
        raise BuildError(f"no shard summaries (summary.shard-*.json) in {out}; run the shards first")
    counts = {int(n.split("-of-")[1].split(".")[0]) for n in summaries}
    if len(counts) != 1:
        raise BuildError(f"{out} mixes runs with different shard counts {sorted(counts)}")
    n = counts.pop() if num_shards is None else num_shards
    missing = [i for i in range(n) if f"summary.{shard_tag(i, n)}.json" not in names]
    if missing:
        raise BuildError(
            f"shards {missing} of {n} have not finished (no summary.{shard_tag(missing[0], n)}.json)"
        )
    shard_summaries = [_io.read_json(os.path.join(out, f"summary.{shard_tag(i, n)}.json")) for i in range(n)]
    splits = sorted({s for summ in shard_summaries for s in summ["splits"]})
    tmp_dir = os.path.join(out, WORK_DIR, "tmp", "merge")
    os.makedirs(tmp_dir, exist_ok=True)
    all_entries: List[Dict[str, Any]] = []
    class_names: Sequence[str] = ()
    for split in splits:
        parts = []
        for i in range(n):
            path = os.path.join(out, index_filename(split, i, n))
            if not os.path.isfile(path):
                raise BuildError(f"missing shard index {path}")
            parts.append(_io.read_json(path))
        try:
            merged = merge_indices(parts)
        except ValueError as exc:
            raise BuildError(str(exc)) from None
        class_names = merged["metainfo"]["classes"]
        all_entries.extend(merged["data_list"])
        _io.atomic_write_json(os.path.join(out, index_filename(split)), merged, tmp_dir)
    failures = [f for summ in shard_summaries for f in summ["failure_list"]]
    summary = summarize(sorted(all_entries, key=lambda e: e["idx"]), failures, class_names)
    summary.update(
        {
            "splits": splits,
            "shard": [0, 1],
            "planned_images": sum(int(s["planned_images"]) for s in shard_summaries),
        }
    )
    _io.atomic_write_json(os.path.join(out, "summary.json"), summary, tmp_dir)
    return summary
