"""Building and loading segment-anything models, with clear checkpoint errors.

segment-anything's factories (``sam_model_registry``) only know the three
released sizes and fail with a long ``load_state_dict`` traceback when a
checkpoint does not match. Here the architecture is read from the
checkpoint's tensor shapes (:func:`infer_sam_config`), compared with the
size the user asked for, and the model is assembled from segment-anything's
own modules (``ImageEncoderViT``, ``PromptEncoder``, ``MaskDecoder``,
``TwoWayTransformer``, ``Sam``), which also lets tests use a tiny SAM.
"""

from __future__ import annotations

import os
import re
from functools import partial
from typing import Any, Dict, Mapping

import torch

# The released SAM image encoders (segment_anything.build_sam).
SAM_PRESETS: Dict[str, Dict[str, Any]] = {
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
}
SAM_MODEL_CHOICES = ("vit_b", "vit_l", "vit_h", "auto")


class SamCheckpointError(RuntimeError):
    """A SAM checkpoint is missing, unreadable or does not match the requested model."""


def _full_config(**enc: Any) -> Dict[str, Any]:
    """A complete SAM config: released decoder sizes plus the given encoder fields."""
    cfg: Dict[str, Any] = dict(
        img_size=1024,
        patch_size=16,
        window_size=14,
        mlp_ratio=4.0,
        out_chans=256,
        qkv_bias=True,
        mask_in_chans=16,
        decoder_depth=2,
        decoder_mlp_dim=2048,
        decoder_num_heads=8,
        num_multimask_outputs=3,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
        attention_downsample_rate=2,
    )
    cfg.update(enc)
    cfg["global_attn_indexes"] = tuple(cfg["global_attn_indexes"])
    return cfg


def preset_config(name: str) -> Dict[str, Any]:
    """The full config of a released SAM size (``'vit_b' | 'vit_l' | 'vit_h'``)."""
    return _full_config(**SAM_PRESETS[name])


def tiny_sam_config() -> Dict[str, Any]:
    """A SAM small enough for CPU tests (about 0.1 M parameters, 64x64 input)."""
    return _full_config(
        img_size=64,
        patch_size=16,
        window_size=2,
        embed_dim=32,
        depth=2,
        num_heads=2,
        global_attn_indexes=(1,),
        out_chans=32,
        mask_in_chans=4,
        decoder_depth=1,
        decoder_mlp_dim=64,
        decoder_num_heads=8,
        iou_head_hidden_dim=32,
    )


def build_sam_from_config(cfg: Mapping[str, Any]):
    """A randomly initialised ``segment_anything.modeling.Sam`` of the given config (eval mode)."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    emb = cfg["img_size"] // cfg["patch_size"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=cfg["img_size"],
            patch_size=cfg["patch_size"],
            embed_dim=cfg["embed_dim"],
            depth=cfg["depth"],
            num_heads=cfg["num_heads"],
            mlp_ratio=cfg["mlp_ratio"],
            out_chans=cfg["out_chans"],
            qkv_bias=cfg["qkv_bias"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=cfg["window_size"],
            global_attn_indexes=tuple(cfg["global_attn_indexes"]),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg["out_chans"],
            image_embedding_size=(emb, emb),
            input_image_size=(cfg["img_size"], cfg["img_size"]),
            mask_in_chans=cfg["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg["num_multimask_outputs"],
            transformer=TwoWayTransformer(
                depth=cfg["decoder_depth"],
                embedding_dim=cfg["out_chans"],
                mlp_dim=cfg["decoder_mlp_dim"],
                num_heads=cfg["decoder_num_heads"],
                attention_downsample_rate=cfg["attention_downsample_rate"],
            ),
            transformer_dim=cfg["out_chans"],
            iou_head_depth=cfg["iou_head_depth"],
            iou_head_hidden_dim=cfg["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def infer_sam_config(sd: Mapping[str, torch.Tensor], decoder_num_heads: int = 8) -> Dict[str, Any]:
    """Read a SAM architecture from a state dict's tensor shapes.

    Every size is in the shapes except the mask decoder's head count, which
    is ``decoder_num_heads`` (8 in every released SAM) unless
    ``decoder_num_heads`` does not divide the attention width, in which case
    the largest divisor up to it is used.

    Raises:
        SamCheckpointError: the dict is not a segment-anything SAM state dict.
    """
    try:
        pos = sd["image_encoder.pos_embed"]  # (1, H/p, W/p, C)
        patch = sd["image_encoder.patch_embed.proj.weight"].shape[-1]
        embed_dim = int(pos.shape[-1])
        grid = int(pos.shape[1])
        depth = _count(sd, r"image_encoder\.blocks\.(\d+)\.")
        head_dim = int(sd["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
        globals_, window = [], 14
        for i in range(depth):
            size = (int(sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0]) + 1) // 2
            if size == grid:
                globals_.append(i)
            else:
                window = size
        out_chans = int(sd["image_encoder.neck.0.weight"].shape[0])
        mlp_hidden = int(sd["image_encoder.blocks.0.mlp.lin1.weight"].shape[0])
        dec_depth = _count(sd, r"mask_decoder\.transformer\.layers\.(\d+)\.")
        q_width = int(
            sd["mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight"].shape[0]
        )
        heads = max(h for h in range(1, decoder_num_heads + 1) if q_width % h == 0)
        return _full_config(
            img_size=grid * int(patch),
            patch_size=int(patch),
            window_size=window,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=embed_dim // head_dim,
            global_attn_indexes=tuple(globals_),
            mlp_ratio=mlp_hidden / embed_dim,
            out_chans=out_chans,
            qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in sd,
            mask_in_chans=int(sd["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            decoder_depth=dec_depth,
            decoder_mlp_dim=int(sd["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
            decoder_num_heads=heads,
            num_multimask_outputs=int(sd["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
            iou_head_depth=_count(sd, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\."),
            iou_head_hidden_dim=int(sd["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
            attention_downsample_rate=max(1, out_chans // q_width),
        )
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise SamCheckpointError(
            f"not a segment-anything SAM state dict (missing or odd entry: {exc})"
        ) from None


def _describe(cfg: Mapping[str, Any]) -> str:
    return (
        f"image encoder embed_dim={cfg['embed_dim']}, depth={cfg['depth']}, num_heads={cfg['num_heads']}, "
        f"input {cfg['img_size']}px"
    )


def load_sam(checkpoint: str, model_type: str = "auto", device: str = "cpu"):
    """Load a SAM checkpoint by path, checking it against ``model_type``.

    Args:
        checkpoint: path of a ``torch.save``d SAM state dict (the released
            ``sam_vit_*.pth`` files or one saved from :func:`build_sam_from_config`).
        model_type: ``'vit_b' | 'vit_l' | 'vit_h'`` to require that size, or
            ``'auto'`` to take whatever architecture the checkpoint holds.
        device: torch device for the model.

    Returns:
        The ``Sam`` model in eval mode on ``device``.

    Raises:
        SamCheckpointError: missing/unreadable file, not a SAM state dict, or a
            size other than ``model_type``; the message says which.
    """
    if model_type not in SAM_MODEL_CHOICES:
        raise SamCheckpointError(
            f"unknown SAM model {model_type!r}; choose one of {', '.join(SAM_MODEL_CHOICES)}"
        )
    if not checkpoint or not os.path.isfile(checkpoint):
        raise SamCheckpointError(f"SAM checkpoint not found: {checkpoint}")
    try:
        sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise SamCheckpointError(
            f"cannot read SAM checkpoint {checkpoint}: not a readable PyTorch state dict "
            f"(truncated, corrupt or another format; {type(exc).__name__})"
        ) from None
    if isinstance(sd, Mapping) and "model" in sd and isinstance(sd["model"], Mapping):
        sd = sd["model"]
    if not isinstance(sd, Mapping):
        raise SamCheckpointError(f"SAM checkpoint {checkpoint} does not hold a state dict")
    try:
        cfg = infer_sam_config(sd)
    except SamCheckpointError as exc:
        raise SamCheckpointError(f"{checkpoint}: {exc}") from None
    if model_type != "auto":
        want = preset_config(model_type)
        keys = ("embed_dim", "depth", "num_heads", "global_attn_indexes", "img_size", "out_chans")
        if any(cfg[k] != want[k] for k in keys):
            raise SamCheckpointError(
                f"SAM checkpoint {checkpoint} does not match --sam-model {model_type}: the checkpoint has "
                f"{_describe(cfg)}, {model_type} has {_describe(want)}; pass the matching --sam-model "
                f"(or 'auto')"
            )
    model = build_sam_from_config(cfg)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise SamCheckpointError(
            f"SAM checkpoint {checkpoint} does not fit a {model_type} model: {first}"
        ) from None
    return model.to(device)
