"""Training targets and losses of the 2D families, as mmpose 1.3.2 builds them (the encode side of ``codecs.py``).

Every family trains from the same labels: ``(B, K, 3)`` rows ``[x, y, weight]``, the keypoint in the model's
input crop (pixels, x right, y down, after augmentation) and its target weight (1 labelled and inside the crop,
else 0). The family's codec turns them into targets, batched in torch on the model's device (mmpose encodes one
sample at a time in numpy; the arithmetic below is the same, rounding included):

==========  ===================================================  ==========================================
codec       target (read in mmpose ``mmpose/codecs``)             loss (``mmpose/models/losses``)
==========  ===================================================  ==========================================
SimCC       ``SimCCLabel`` gaussian, ``normalize=False``: per     ``KLDiscretLoss(beta=10, label_softmax=True,
            axis ``exp(-(bin - round(r p))^2 / (2 sigma^2))``     use_target_weight=True)``: per keypoint and
            over every bin, r = split ratio 2, sigma (4.9, 5.66)  axis the mean over bins of
            (RTMPose / SpinePose configs)                         KL(softmax(10 t) || softmax(10 z)), times
                                                                  the weight, summed over batch, keypoints and
                                                                  both axes, divided by K (not by B)
MSRA        ``MSRAHeatmap``: unnormalised Gaussian, sigma 2,      ``KeypointMSELoss(use_target_weight=True)``:
            centred on the integer cell ``trunc(p / 4 + 0.5)``,   mean over (B, K, h, w) of the squared error
            cut to the (2 * 3 sigma + 1)^2 square                 times the keypoint's weight
UDP         ``UDPHeatmap``: as MSRA, centred on the sub-cell      as MSRA
            position ``p (w - 1) / (W - 1)``
==========  ===================================================  ==========================================

mmpose's 3-sigma rule also applies: a keypoint whose Gaussian has no cell inside the map gets weight 0.

Only torch is imported (and nothing from simspine_hub): family files import this module relatively, so it
travels with them as hub remote code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["SIMCC_SIGMA", "HEATMAP_SIGMA", "KL_BETA", "LABEL_BETA", "simcc_targets", "heatmap_targets",
           "kl_discret_loss", "keypoint_mse_loss", "simcc_loss", "heatmap_loss", "check_labels"]

#: SimCC label sigma (x, y) in bins: mmpose ``rtmpose-m_8xb256-420e_coco-256x192`` and the spinepose configs.
SIMCC_SIGMA = (4.9, 5.66)
#: Heatmap Gaussian sigma in heatmap cells: mmpose ``td-hm_hrnet-w32`` / ``td-hm_ViTPose-base`` 256x192 configs.
HEATMAP_SIGMA = 2.0
#: ``KLDiscretLoss(beta=10.)`` in the RTMPose configs; ``label_beta`` is mmpose's default 10.
KL_BETA = 10.0
LABEL_BETA = 10.0


def check_labels(labels: torch.Tensor, num_keypoints: int) -> torch.Tensor:
    """``labels`` (B, K, 3) ``[x, y, weight]`` crop px -> float32; one clear error for anything else."""
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.shape[1:] != (num_keypoints, 3):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a (batch, {num_keypoints}, 3) tensor of [x, y, weight] in crop pixels; "
                         f"got {shape}")
    return labels.float()


def simcc_targets(keypoints: torch.Tensor, weights: torch.Tensor, input_size: tuple[int, int],
                  split_ratio: float = 2.0, sigma: tuple[float, float] = SIMCC_SIGMA
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mmpose ``SimCCLabel`` (gaussian, ``normalize=False``) for a batch.

    Args:
        keypoints: (B, K, 2) crop px; weights: (B, K) (< 0.5 = unlabelled).
        input_size: model input (H, W) px.
    Returns:
        target_x (B, K, W * r), target_y (B, K, H * r) in [0, 1] (zeros where unlabelled), weights (B, K)
        (0 where the 3-sigma window misses every bin).
    """
    h, w = input_size
    bins_x, bins_y = round(w * split_ratio), round(h * split_ratio)
    sx, sy = float(sigma[0]), float(sigma[1])
    mu = torch.round(keypoints.float() * split_ratio)                  # np.around: halves to even, as torch.round
    labelled = weights >= 0.5
    outside = ((mu[..., 0] - 3 * sx >= bins_x) | (mu[..., 1] - 3 * sy >= bins_y)
               | (mu[..., 0] + 3 * sx + 1 < 0) | (mu[..., 1] + 3 * sy + 1 < 0))
    weights = torch.where(labelled & outside, torch.zeros_like(weights), weights)
    keep = (labelled & ~outside).unsqueeze(-1).float()
    x = torch.arange(bins_x, dtype=torch.float32, device=keypoints.device)
    y = torch.arange(bins_y, dtype=torch.float32, device=keypoints.device)
    tx = torch.exp(-((x - mu[..., :1]) ** 2) / (2 * sx ** 2)) * keep
    ty = torch.exp(-((y - mu[..., 1:]) ** 2) / (2 * sy ** 2)) * keep
    return tx.float(), ty.float(), weights


def _window(pos: torch.Tensor, radius: float, size: int, cells: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Along one axis (``pos`` (B, K) cells), mmpose's pasted Gaussian patch: per map cell (B, K, size) the offset
    from the patch's centre index and whether the cell is covered; then the integer centre ``trunc(pos + 0.5)``
    and the patch's left / right (exclusive) cells, (B, K) each."""
    mu = torch.trunc(pos + 0.5)                                         # (p + 0.5).astype(np.int64)
    left, right = torch.trunc(mu - radius), torch.trunc(mu + radius + 1)
    patch = 2 * radius + 1                                              # np.arange(0, patch) has ceil(patch) cells
    g = cells - left.unsqueeze(-1)                                      # index into the patch
    inside = (cells >= left.clamp(min=0).unsqueeze(-1)) & (cells < right.clamp(max=size).unsqueeze(-1))
    return g - math.floor(patch / 2), inside, mu, left, right


def heatmap_targets(keypoints: torch.Tensor, weights: torch.Tensor, heatmap_size: tuple[int, int],
                    input_size: tuple[int, int], sigma: float = HEATMAP_SIGMA, udp: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """mmpose ``MSRAHeatmap`` (``udp=False``) or ``UDPHeatmap`` (gaussian) targets for a batch.

    Args:
        keypoints: (B, K, 2) crop px; weights: (B, K) (< 0.5 = unlabelled).
        heatmap_size: (h, w) cells; input_size: (H, W) px.
    Returns:
        heatmaps (B, K, h, w) float32 (peak 1, zeros where unlabelled), weights (B, K) (0 where the patch misses
        the map).
    """
    hh, ww = heatmap_size
    ih, iw = input_size
    if udp:          # UDPHeatmap.scale_factor = (input - 1) / (heatmap - 1), float32
        scale = torch.tensor([(iw - 1) / (ww - 1), (ih - 1) / (hh - 1)], dtype=torch.float32)
    else:            # MSRAHeatmap.scale_factor = input / heatmap, float32
        scale = torch.tensor([iw / ww, ih / hh], dtype=torch.float32)
    p = keypoints.float() / scale.to(keypoints.device)
    radius = 3 * float(sigma)
    dev = keypoints.device
    ox, in_x, mu_x, left_x, right_x = _window(p[..., 0], radius, ww, torch.arange(ww, dtype=torch.float32, device=dev))
    oy, in_y, mu_y, left_y, right_y = _window(p[..., 1], radius, hh, torch.arange(hh, dtype=torch.float32, device=dev))
    if udp:          # the patch's centre moves by the sub-cell part of the keypoint
        ox = ox - (p[..., 0] - mu_x).unsqueeze(-1)
        oy = oy - (p[..., 1] - mu_y).unsqueeze(-1)
    labelled = weights >= 0.5
    outside = (left_x >= ww) | (left_y >= hh) | (right_x < 0) | (right_y < 0)
    weights = torch.where(labelled & outside, torch.zeros_like(weights), weights)
    gx = torch.exp(-(ox ** 2) / (2 * sigma ** 2)) * in_x                # (B, K, w)
    gy = torch.exp(-(oy ** 2) / (2 * sigma ** 2)) * in_y                # (B, K, h)
    keep = (labelled & ~outside).to(torch.float32)[..., None, None]
    return (gy.unsqueeze(-1) * gx.unsqueeze(-2) * keep).float(), weights


def kl_discret_loss(pred_x: torch.Tensor, pred_y: torch.Tensor, target_x: torch.Tensor, target_y: torch.Tensor,
                    weights: torch.Tensor, beta: float = KL_BETA, label_softmax: bool = True,
                    label_beta: float = LABEL_BETA) -> torch.Tensor:
    """mmpose ``KLDiscretLoss`` with target weights: for each axis, the mean over bins of
    ``labels * (log labels - log_softmax(beta * pred))`` (labels softmaxed with ``label_beta`` when
    ``label_softmax``), times the keypoint weight, summed over (B, K) and both axes, divided by K.

    Args:
        pred_x, target_x: (B, K, Wx); pred_y, target_y: (B, K, Hy); weights: (B, K).
    """
    k = pred_x.shape[1]
    loss = pred_x.new_zeros(())
    for pred, target in ((pred_x, target_x), (pred_y, target_y)):
        log_pt = F.log_softmax(pred.float() * beta, dim=-1)
        labels = F.softmax(target.float() * label_beta, dim=-1) if label_softmax else target.float()
        kl = F.kl_div(log_pt, labels, reduction="none").mean(dim=-1)     # (B, K)
        loss = loss + (kl * weights.float()).sum()
    return loss / k


def keypoint_mse_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """mmpose ``KeypointMSELoss(use_target_weight=True)``: mean over (B, K, h, w) of
    ``(pred - target)^2 * weight[b, k]``. pred, target: (B, K, h, w); weights: (B, K)."""
    return (F.mse_loss(pred.float(), target.float(), reduction="none") * weights.float()[..., None, None]).mean()


def simcc_loss(simcc_x: torch.Tensor, simcc_y: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """A SpinePose / RTMPose model's training loss from its logits and ``labels`` (B, K, 3) (see module docstring).

    ``config`` supplies ``input_size``, ``split_ratio`` and optionally ``simcc_sigma``, ``loss_beta``,
    ``label_softmax``, ``label_beta`` (the RTMPose values by default)."""
    labels = check_labels(labels, simcc_x.shape[1])
    tx, ty, w = simcc_targets(labels[..., :2], labels[..., 2], tuple(config.input_size), config.split_ratio,
                              tuple(getattr(config, "simcc_sigma", SIMCC_SIGMA)))
    return kl_discret_loss(simcc_x, simcc_y, tx, ty, w, beta=float(getattr(config, "loss_beta", KL_BETA)),
                           label_softmax=bool(getattr(config, "label_softmax", True)),
                           label_beta=float(getattr(config, "label_beta", LABEL_BETA)))


def heatmap_loss(heatmaps: torch.Tensor, labels: torch.Tensor, input_size: tuple[int, int], udp: bool,
                 sigma: float = HEATMAP_SIGMA) -> torch.Tensor:
    """A heatmap model's training loss (HRNet: MSRA targets; ViTPose: ``udp=True``) from its (B, K, h, w) output."""
    labels = check_labels(labels, heatmaps.shape[1])
    target, w = heatmap_targets(labels[..., :2], labels[..., 2], tuple(heatmaps.shape[-2:]), tuple(input_size),
                                sigma, udp)
    return keypoint_mse_loss(heatmaps, target, w)
