"""Losses over the multi-label answer head: soft-score BCE and two knowledge-distillation losses.

All are summed over answers and averaged over the batch (unilm's scaling: mean BCE times the
number of answers), so hard and distillation terms are on the same scale and the lr carries
over between them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.loss_names import KD_LOSSES


def soft_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits against the soft VizWiz scores (0, .3, .6, .9, 1)."""
    per_answer = F.binary_cross_entropy_with_logits(
        logits.float(), targets.float(), reduction="none"
    )
    return per_answer.sum(dim=1).mean()


def sigmoid_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """BCE(student / T, sigmoid(teacher / T)) x T^2: each answer's teacher probability is a target.

    This matches the head, which is trained as independent sigmoids; T^2 keeps the gradient
    size comparable across temperatures (as in Hinton et al.).
    """
    t = temperature
    targets = torch.sigmoid(teacher.float() / t)
    return soft_bce(student.float() / t, targets) * t * t


def softmax_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)) x T^2, the original project's loss.

    It treats the logits as one distribution over answers, which the BCE-trained head is not.
    """
    t = temperature
    log_student = F.log_softmax(student.float() / t, dim=1)
    log_teacher = F.log_softmax(teacher.float() / t, dim=1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * t * t


def kd_loss(
    kind: str, student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    if kind == "sigmoid":
        return sigmoid_kd(student, teacher, temperature)
    if kind == "softmax":
        return softmax_kd(student, teacher, temperature)
    raise ValueError(f"unknown distillation loss {kind!r}; known: {', '.join(KD_LOSSES)}")


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    targets: torch.Tensor,
    *,
    kind: str,
    temperature: float,
    hard_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """hard_weight x soft_bce + (1 - hard_weight) x KD, with both parts for logging."""
    hard = soft_bce(student, targets)
    soft = kd_loss(kind, student, teacher, temperature)
    total = hard_weight * hard + (1.0 - hard_weight) * soft
    return total, {"hard": float(hard.detach()), "kd": float(soft.detach())}
