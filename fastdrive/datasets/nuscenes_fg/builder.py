"""The nuScenes-FG build loop: plan, shard, resume, segment, write, index, summarise.

Layout of an output directory ``O``::

    O/samples/CAM_X/NAME.png                 class-id mask of DATAROOT/samples/CAM_X/NAME.jpg
    O/nuscenes_fg_infos_<split>.json         mmengine index per split (index.py)
    O/summary.json                           run summary
    O/nuscenes_fg_infos_<split>.shard-I-of-N.json, O/summary.shard-I-of-N.json   (sharded runs)
    O/_work/journal.shard-I-of-N.jsonl       resume journal
    O/_work/tmp/shard-I-of-N/                temporary files of one shard (shards may share O)

Every file is written atomically. A rerun with the same arguments skips the
images its journal lists as done (and whose mask exists), retries failures,
and ends with byte-identical outputs to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import shutil
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
from PIL import Image

from . import _io
from .classes import FGClasses
from .compose import class_pixel_counts, compose_mask
from .index import make_entry, mask_path_for
from .inputs import (  # noqa: F401 - re-exported for callers of the builder
    CAMERAS,
    BuildError,
    BuildOptions,
    WorkItem,
    check_dataroot,
    load_maps,
    load_nuscenes,
    plan_items,
    shard_slice,
    shard_tag,
)
from .outputs import WORK_DIR, merge_shards, write_outputs  # noqa: F401 - merge_shards re-exported
from .prompts import ImagePrompts, PromptExtractor
from .segmenters import Segmenter
from .splits import scene_splits


# --------------------------------------------------------------- per image
class ItemFailure(Exception):
    """An image could not be processed; the message is the recorded reason."""


def read_image(path: str, width: int, height: int, decode: bool) -> Optional[np.ndarray]:
    """Check (and if ``decode``, read) a camera image.

    Without ``decode`` the JPEG is decoded at 1/8 scale only (enough to find a
    truncated or corrupt file, and fast).

    Returns:
        ``(H, W, 3)`` uint8 RGB if ``decode`` else None.

    Raises:
        ItemFailure: missing, unreadable, corrupt, or of the wrong size.
    """
    if not os.path.isfile(path):
        raise ItemFailure(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            if im.size != (width, height):
                raise ItemFailure(
                    f"image is {im.size[0]}x{im.size[1]}, calibration says {width}x{height}: {path}"
                )
            if not decode:
                im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                im.load()
                return None
            return np.asarray(im.convert("RGB"))
    except ItemFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for broken files
        raise ItemFailure(f"cannot decode image {path}: {type(exc).__name__}: {exc}") from None


def encode_png(mask: np.ndarray) -> bytes:
    """PNG bytes of a ``(H, W)`` uint8 class-id mask (deterministic).

    zlib's run-length strategy suits masks (long runs of one id): about 4x
    faster than OpenCV's default PNG settings and 3x smaller files.
    """
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(
        buf, "PNG", compress_level=6, compress_type=zlib.Z_RLE
    )
    return buf.getvalue()


@dataclass
class _Context:
    """State shared by the loop and its worker processes."""

    dataroot: str
    out: str
    extractor: PromptExtractor
    classes: FGClasses
    segmenter: Optional[Segmenter] = None
    needs_image: bool = False
    tmp_dir: str = ""


_CTX: Optional[_Context] = None  # set before forking workers


def _prepare(item: WorkItem) -> Tuple[WorkItem, Optional[ImagePrompts], Optional[np.ndarray], Optional[str]]:
    """Prompts and (if needed) the image of one item; the failure reason instead if it fails."""
    ctx = _CTX
    assert ctx is not None
    try:
        prompts = ctx.extractor(item.sample_data_token)
        image = read_image(
            os.path.join(ctx.dataroot, item.img_path), prompts.width, prompts.height, ctx.needs_image
        )
        return item, prompts, image, None
    except ItemFailure as exc:
        return item, None, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - record and go on
        return item, None, None, f"{type(exc).__name__}: {exc}"


def _finish(
    ctx: _Context, segmenter: Segmenter, item: WorkItem, prompts: ImagePrompts, image: Optional[np.ndarray]
) -> Dict[str, Any]:
    """Segment, compose, write the mask; return the index entry."""
    objects = segmenter.segment(image, prompts)
    mask = compose_mask(prompts.height, prompts.width, objects, prompts.road, prompts.road_class_id)
    _io.atomic_write_bytes(
        os.path.join(ctx.out, mask_path_for(item.img_path)),
        encode_png(mask),
        tmp_dir=ctx.tmp_dir,
    )
    return make_entry(item.idx, prompts, class_pixel_counts(mask, ctx.classes.num_classes))


def _record(ctx: _Context, segmenter: Segmenter, prepared) -> Dict[str, Any]:
    item, prompts, image, reason = prepared
    if reason is None:
        try:
            return {"ok": _finish(ctx, segmenter, item, prompts, image)}
        except Exception as exc:  # noqa: BLE001
            reason = f"{type(exc).__name__}: {exc}"
    return {
        "fail": {
            "idx": item.idx,
            "img_path": item.img_path,
            "sample_data_token": item.sample_data_token,
            "reason": reason.strip().splitlines()[0] if reason.strip() else "unknown error",
        }
    }


def _process_in_worker(item: WorkItem) -> Dict[str, Any]:
    """Whole pipeline for one item inside a worker (segmenters that run in workers, i.e. ``box``)."""
    ctx = _CTX
    assert ctx is not None and ctx.segmenter is not None
    return _record(ctx, ctx.segmenter, _prepare(item))


# ------------------------------------------------------------------- run
def _run_header(opts: BuildOptions, classes: FGClasses, segmenter: Segmenter, n_items: int) -> Dict[str, Any]:
    cls_hash = hashlib.sha1(_io.dumps_json(asdict(classes)).encode()).hexdigest()[:12]
    return {
        "version": opts.version,
        "dataroot": os.path.abspath(opts.dataroot),
        "split": opts.split,
        "cameras": list(opts.cameras),
        "segmenter": segmenter.name,
        "classes": cls_hash,
        "num_shards": opts.num_shards,
        "shard_id": opts.shard_id,
        "items": n_items,
    }


def _resume(journal_path: str, out: str, header: Mapping[str, Any]) -> Dict[int, Dict[str, Any]]:
    """Done entries (by idx) of an earlier run with the same header; failures are retried."""
    old_header, records = _io.read_journal(journal_path)
    if old_header is None:
        return {}
    if old_header != dict(header):
        diff = sorted(k for k in set(old_header) | set(header) if old_header.get(k) != header.get(k))
        raise BuildError(
            f"{out} holds an unfinished run with different settings ({', '.join(diff)}); "
            f"rerun with the same arguments or use another --out"
        )
    done: Dict[int, Dict[str, Any]] = {}
    for rec in records:
        entry = rec.get("ok")
        if entry and os.path.isfile(os.path.join(out, entry["mask_path"])):
            done[int(entry["idx"])] = entry
    return done


def _iterate(
    ctx: _Context, segmenter: Segmenter, todo: List[WorkItem], workers: int, in_worker: bool
) -> Iterator[Dict[str, Any]]:
    """Records of ``todo`` in order, using ``workers`` forked processes when > 1."""
    global _CTX
    _CTX = ctx
    if workers <= 1 or len(todo) < 2:
        for item in todo:
            yield _record(ctx, segmenter, _prepare(item))
        return
    pool = mp.get_context("fork").Pool(workers)
    try:
        if in_worker:
            yield from pool.imap(_process_in_worker, todo, chunksize=2)
        else:
            for prepared in pool.imap(_prepare, todo, chunksize=1):
                yield _record(ctx, segmenter, prepared)
    finally:
        pool.terminate()
        pool.join()


def run_build(
    opts: BuildOptions,
    classes: FGClasses,
    segmenter_factory: Callable[[], Segmenter],
    progress: Optional[Callable[..., Any]] = None,
) -> Dict[str, Any]:
    """Build (this shard of) nuScenes-FG.

    All checks that can fail on bad input (dataroot, version, maps, cameras,
    split, segmenter checkpoint) run before the first image is touched.

    Args:
        opts: what to build.
        classes: the foreground class definition.
        segmenter_factory: builds the segmenter (called once, after the checks
            on the data; it may raise for a bad checkpoint).
        progress: optional ``tqdm``-like factory, called as
            ``progress(total=, initial=, unit='img')``; the result gets ``update(1)``.

    Returns:
        The run summary (also written to ``summary[.shard-I-of-N].json``).

    Raises:
        BuildError: bad input (nothing has been written then).
    """
    global _CTX
    nusc = load_nuscenes(opts.dataroot, opts.version)
    try:
        splits = scene_splits(opts.dataroot, opts.version)
    except Exception as exc:  # noqa: BLE001
        raise BuildError(
            f"cannot read the scene splits of {opts.version}: {type(exc).__name__}: {exc}"
        ) from None
    items = plan_items(nusc, splits, opts.split, opts.cameras)
    locations = {nusc.get("log", s["log_token"])["location"] for s in nusc.scene}
    maps = load_maps(nusc, opts.dataroot, sorted(locations))
    mine = shard_slice(items, opts.num_shards, opts.shard_id)
    if opts.limit is not None:
        mine = mine[: max(0, int(opts.limit))]
    segmenter = segmenter_factory()

    out = opts.out
    tag = shard_tag(opts.shard_id, opts.num_shards)
    tmp_dir = os.path.join(out, WORK_DIR, "tmp", tag)
    os.makedirs(os.path.join(out, WORK_DIR), exist_ok=True)
    journal_path = os.path.join(out, WORK_DIR, f"journal.{tag}.jsonl")
    header = _run_header(opts, classes, segmenter, len(mine))
    done = _resume(journal_path, out, header)
    shutil.rmtree(tmp_dir, ignore_errors=True)  # leftovers of a killed run of this shard
    os.makedirs(tmp_dir)
    for cam in opts.cameras:
        os.makedirs(os.path.join(out, "samples", cam), exist_ok=True)

    ctx = _Context(
        opts.dataroot,
        out,
        PromptExtractor(nusc, maps, classes),
        classes,
        segmenter,
        segmenter.needs_image,
        tmp_dir,
    )
    kept = [{"ok": done[i.idx]} for i in mine if i.idx in done]
    journal = _io.Journal(journal_path, header, kept)
    todo = [i for i in mine if i.idx not in done]
    entries: Dict[int, Dict[str, Any]] = dict(done)
    failures: Dict[int, Dict[str, Any]] = {}
    bar = progress(total=len(mine), initial=len(mine) - len(todo), unit="img") if progress else None
    try:
        in_worker = not segmenter.needs_image
        for rec in _iterate(ctx, segmenter, todo, opts.workers, in_worker):
            journal.append(rec)
            if "ok" in rec:
                entries[rec["ok"]["idx"]] = rec["ok"]
            else:
                failures[rec["fail"]["idx"]] = rec["fail"]
            if bar is not None:
                bar.update(1)
    finally:
        journal.close()
        if bar is not None:
            bar.close()
        _CTX = None
    return write_outputs(opts, classes, segmenter.name, mine, items, entries, failures, tmp_dir)
