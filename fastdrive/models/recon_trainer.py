"""ReconPruner training (FastDriveVLA): adversarial foreground/background reconstruction.

For a batch of camera images with binary foreground masks (nuScenes-FG):

1. the host's frozen vision tower + merger give the visual tokens
   ``V (B, N, D)`` (or the feature cache does);
2. the :class:`~fastdrive.pruning.recon_pruner.ReconPruner` scores them,
   ``S (B, N)``, with the tokens' own M-RoPE positions (the same the
   pruning adapter hands it at inference);
3. ``M~ = S + stopgrad(1[S > 0] - S)`` (straight-through; ``ste='sigmoid'``
   passes the gradient of ``sigmoid(S)`` instead, and with ``standardize``
   the per-image z-scores of ``S`` are thresholded);
4. ``V_fg = M~ ⊙ V`` and ``V_bg = (1 - M~) ⊙ V`` (zeroed, length N kept);
5. one shared :class:`~.recon_decoder.ReconDecoder` reconstructs the image
   masked to the foreground from ``V_fg`` and the image masked to the
   background from ``V_bg``;
6. ``L = alpha * L_fg + (1 - alpha) * L_bg``, each
   ``lam * (1 - SSIM) + (1 - lam) * MSE`` (with ``region_loss``, of the
   reconstruction masked to its own region).

Keeping every token makes ``V_bg`` empty and the background image
unrecoverable; keeping none does the same to the foreground: the background
branch is what stops "score everything positive".

``objective`` selects the ablations: 'adversarial' (the method),
'fg_only' (``L_fg`` alone: the degenerate case), 'supervised' (per-token BCE
of ``S`` against the ground-truth foreground share of each token's cell: the
supervised reference, no decoder).
"""

from __future__ import annotations

import os

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import nn

from ..pruning.recon_pruner import (ReconPruner, standardize_scores, straight_through_mask,
                                     visual_mrope_positions)
from ..pruning.base import PruningContext
from ..registry import MODELS
from .recon_decoder import ReconDecoder, reconstruction_loss, token_shares
from .recon_host import ReconHost

OBJECTIVES = ("adversarial", "fg_only", "supervised")


@MODELS.register_module()
class ReconPrunerTrainer(BaseModel):
    """mmengine model that trains a ReconPruner on a frozen host.

    Args:
        host: :class:`~.recon_host.ReconHost` arguments (``kind``, ``path``, ``image_size``, ``dtype``).
        pruner: extra ReconPruner arguments (its sizes come from the host).
        decoder_depth: reconstruction decoder layers (6 in FastDriveVLA).
        lam: SSIM weight of each branch's loss (0.2; 0 = MSE only).
        alpha: weight of the foreground branch (0.5).
        objective: 'adversarial', 'fg_only' or 'supervised' (see the module docstring).
        init_layer: host LLM decoder layer whose weights initialise the
            pruner layer (None: random init).
        recon_unit: pixels per token side of the reconstructions (None: the
            host's, 28, i.e. the input resolution; 14 reconstructs at half
            resolution, 4x cheaper, for CPU training). Targets are
            area-downsampled to match.
        ste: gradient surrogate of the straight-through mask: 'identity'
            (FastDriveVLA's) or 'sigmoid' (see
            :func:`~fastdrive.pruning.recon_pruner.straight_through_mask`).
        init_score_bias: start value of the scorer's bias (None: PyTorch's
            default). A clearly negative bias starts training with every
            token scored background (the foreground set empty): the
            reconstruction gradient then tells each token how much the
            foreground reconstruction would gain from it, the signal that
            ranked tokens best on the embedded host (docs/results.md).
        standardize: threshold each image's z-scored ``S`` (``(S - mean) /
            std``) instead of ``S`` itself. The top-K order, which is all
            inference uses, is unchanged; in training, neither branch can be
            left empty (all of an image's scores cannot sit on one side of
            their mean) and the straight-through gradient no longer grows
            with the scores' scale. On the embedded host, raw thresholds
            collapsed to one branch within a few hundred steps
            (docs/results.md).
        region_loss: score each branch only on its own region: the
            foreground reconstruction is multiplied by the foreground mask
            and the background one by its complement before the loss, and
            each MSE is a mean over its own region's pixels (FastDriveVLA
            scores the whole masked image, so a few percent of object
            pixels weigh next to nothing against the background). The paper's loss
            rewards a branch for knowing where the *other* region is (the
            black it must paint): object tokens tell the background branch
            where its holes are, background tokens tell the foreground
            branch where to paint black. Which pull wins depends on the host;
            on two of the embedded planners it was the wrong one and the
            ranking inverted (docs/results.md). With ``region_loss`` a token
            is worth only what its own region's content gains from it.
        seed: initialisation seed of the pruner and the decoder.
        data_preprocessor: mmengine data preprocessor config.
    """

    def __init__(self, host: Dict[str, Any], pruner: Optional[Dict[str, Any]] = None, decoder_depth: int = 6,
                 lam: float = 0.2, alpha: float = 0.5, objective: str = "adversarial",
                 init_layer: Optional[int] = None, recon_unit: Optional[int] = None, ste: str = "identity",
                 standardize: bool = False, init_score_bias: Optional[float] = None, region_loss: bool = False,
                 seed: int = 0, data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0.0 <= lam <= 1.0 or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"lam and alpha must be in [0, 1], got lam={lam}, alpha={alpha}")
        self.host = ReconHost(**host, keep_layer=init_layer)
        # the frozen host is rebuilt from its own file: checkpoints hold only what trains
        self._register_state_dict_hook(_drop_host_keys)
        self.register_load_state_dict_pre_hook(_fill_host_keys)
        self.lam, self.alpha, self.objective = float(lam), float(alpha), objective
        straight_through_mask(torch.zeros(1), ste)  # validates the name
        self.ste = ste
        self.standardize = bool(standardize)
        self.region_loss = bool(region_loss)
        self.recon_unit = int(recon_unit or self.host.unit)
        if self.host.unit % self.recon_unit:
            raise ValueError(f"recon_unit {self.recon_unit} must divide the host's {self.host.unit} px per token")
        sizes = self.host.pruner_kwargs()
        rng = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            self.pruner = ReconPruner(**{**sizes, **dict(pruner or {})}, weights=None)
            self.decoder = None if objective == "supervised" else ReconDecoder(
                hidden_size=sizes["hidden_size"], num_heads=sizes["num_heads"], num_kv_heads=sizes["num_kv_heads"],
                intermediate_size=sizes["intermediate_size"], mrope_section=self.pruner.config_dict["mrope_section"],
                depth=decoder_depth, unit=self.recon_unit, rms_norm_eps=sizes.get("rms_norm_eps", 1e-6),
                rope_theta=sizes.get("rope_theta", 1e6))
        finally:
            torch.random.set_rng_state(rng)
        if init_layer is not None:
            self.pruner.decoder_layer.load_state_dict(self.host.layer_state(int(init_layer)))
        if init_score_bias is not None:
            nn.init.constant_(self.pruner.scorer.bias, float(init_score_bias))
        self.pruner.train()

    # ------------------------------------------------------------------ pieces
    @property
    def grid_hw(self) -> Tuple[int, int]:
        """``(h, w)`` token grid of the host's input size."""
        return self.host.grid_hw

    def tokens(self, img: torch.Tensor, tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Visual tokens ``(B, N, D)``: the cached ones if given, else the frozen host's of ``img``."""
        if tokens is not None:
            return tokens.to(self.pruner.query.device).float()
        return self.host.encode(self._images(img))

    def _images(self, img: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 1] ``(B, 3, H, W)`` -> float [0, 1] on the model's device."""
        img = img.to(self.pruner.query.device)
        return img.float() / 255.0 if img.dtype == torch.uint8 else img.float()

    def scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """ReconPruner scores ``(B, N)`` at the tokens' own M-RoPE positions."""
        pos = visual_mrope_positions(self.grid_hw, tokens.shape[0], tokens.device)
        ctx = PruningContext(grid_hw=self.grid_hw, extra={"visual_position_ids": pos})
        return self.pruner.scores(tokens, ctx)

    def mask_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """The scores the training mask thresholds at 0: ``S``, or its per-image z-scores (``standardize``)."""
        return standardize_scores(scores) if self.standardize else scores

    def reconstruct(self, tokens: torch.Tensor, scores: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{'fg', 'bg'}`` reconstructions ``(B, 3, H, W)`` from the STE-masked token sets (bg omitted for 'fg_only')."""
        m = straight_through_mask(self.mask_scores(scores), self.ste)[..., None]  # (B, N, 1)
        sets = [m * tokens] if self.objective == "fg_only" else [m * tokens, (1.0 - m) * tokens]
        x = torch.cat(sets, dim=0)
        pos = visual_mrope_positions(self.grid_hw, x.shape[0], x.device)
        out = self.decoder(x, self.grid_hw, pos)
        parts = out.chunk(len(sets), dim=0)
        return {"fg": parts[0], **({"bg": parts[1]} if len(parts) > 1 else {})}

    # ------------------------------------------------------------------ mmengine
    def forward(self, img: Any, fg: Any, tokens: Any = None, meta: Any = None, mode: str = "tensor",
                **unused: Any) -> Union[Dict[str, torch.Tensor], List[Dict[str, Any]]]:
        """mmengine entry point over collated :class:`~fastdrive.datasets.ReconFGDataset` items.

        Args:
            img: ``(B, 3, H, W)`` uint8 at the host's input size.
            fg: ``(B, 1, H, W)`` uint8 foreground share per pixel (0-255).
            tokens: ``(B, N, D)`` cached visual tokens, or None.
            mode: 'loss' -> losses (and ``pos_share``, the share of tokens
                scored positive, logged); 'predict' -> one
                ``{'scores' (N,), 'fg_share' (N,), 'meta'}`` per image;
                'tensor' -> ``{'scores', 'fg_share', 'target_fg', 'target_bg'}``
                plus the reconstructions ``recon_fg`` / ``recon_bg``.
        """
        img, fg = self._stack(img), self._stack(fg)
        tokens = self._stack(tokens) if tokens is not None else None
        v = self.tokens(img, tokens)
        s = self.scores(v)
        images = self._images(img)
        fgm = fg.to(images.device).float() / 255.0 if fg.dtype == torch.uint8 else fg.to(images.device).float()
        shares = token_shares(fgm, self.host.unit)  # (B, N)
        factor = self.host.unit // self.recon_unit
        if factor > 1:  # reconstruction targets at the decoder's resolution
            images = nn.functional.avg_pool2d(images, factor)
            fgm = nn.functional.avg_pool2d(fgm, factor)
        if mode == "loss":
            return self._loss(v, s, images, fgm, shares)
        if mode == "predict":
            metas = list(meta) if meta is not None else [None] * s.shape[0]
            masked = self.mask_scores(s.detach())
            return [dict(scores=si.detach().cpu(), mask_scores=zi.cpu(), fg_share=fi.detach().cpu(), meta=m)
                    for si, zi, fi, m in zip(s, masked, shares, metas)]
        if mode == "tensor":
            out = dict(scores=s, fg_share=shares, target_fg=images * fgm, target_bg=images * (1.0 - fgm))
            if self.decoder is not None:
                out.update({f"recon_{k}": v_ for k, v_ in self.reconstruct(v, s).items()})
            return out
        raise ValueError(f"unknown mode {mode!r}")

    def _loss(self, v: torch.Tensor, s: torch.Tensor, images: torch.Tensor, fgm: torch.Tensor,
              shares: torch.Tensor) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {"pos_share": (self.mask_scores(s.detach()) > 0).float().mean()}
        if self.objective == "supervised":
            out["loss_bce"] = nn.functional.binary_cross_entropy_with_logits(s, shares)
            return out
        rec = self.reconstruct(v, s)
        regions = (fgm, 1.0 - fgm) if self.region_loss else (None, None)
        out["loss_fg"] = (self.alpha if "bg" in rec else 1.0) * reconstruction_loss(
            rec["fg"], images * fgm, self.lam, region=regions[0])
        if "bg" in rec:
            out["loss_bg"] = (1.0 - self.alpha) * reconstruction_loss(
                rec["bg"], images * (1.0 - fgm), self.lam, region=regions[1])
        return out

    @staticmethod
    def _stack(x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        return x if isinstance(x, torch.Tensor) else torch.stack(list(x))

    def pruner_checkpoint(self, meta: Optional[Dict[str, Any]] = None,
                          selection: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The trained pruner as a ``weights=`` file's contents (see :meth:`ReconPruner.checkpoint_dict`;
        ``selection``: the selection options recommended with the weights)."""
        info = dict(host_kind=self.host.kind, host=os.path.basename(self.host.path),
                    host_fingerprint=self.host.fingerprint(),
                    image_size=list(self.host.image_size), objective=self.objective, lam=self.lam, alpha=self.alpha,
                    ste=self.ste, standardize=self.standardize, region_loss=self.region_loss)
        info.update(meta or {})
        return self.pruner.checkpoint_dict(info, selection=selection)


def _drop_host_keys(module: nn.Module, state: Dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict hook: leave the frozen host's tensors out."""
    for key in [k for k in state if k.startswith(prefix + "host.")]:
        del state[key]


def _fill_host_keys(module: nn.Module, state: Dict[str, Any], prefix: str, *args: Any) -> None:
    """Load pre-hook: take the host's tensors from the model itself (checkpoints do not carry them)."""
    for key, value in module.host.state_dict(prefix=prefix + "host.").items():
        state.setdefault(key, value)
