"""Soft targets and the distillation loss against PyTorch's softmax and KL divergence."""
import pytest
import torch
import torch.nn.functional as F

from tl_lessons.distillation import distillation_loss, soft_targets


def test_soft_targets_soften_but_keep_the_order():
    logits = torch.tensor([[4.0, 2.0, 0.0, -1.0]])
    plain, soft = soft_targets(logits), soft_targets(logits, temperature=4.0)
    assert torch.allclose(plain, torch.softmax(logits, dim=-1))
    assert torch.allclose(soft.sum(-1), torch.ones(1))
    assert torch.equal(soft.argsort(), plain.argsort())
    assert soft.max() < plain.max() and soft.min() > plain.min()


@pytest.mark.parametrize("temperature", [1.0, 2.0, 8.0])
def test_distillation_loss_is_scaled_kl_divergence(temperature):
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 6, 10, generator=generator)
    reference = F.kl_div(F.log_softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1),
                         reduction="batchmean")
    assert torch.allclose(distillation_loss(student, teacher, temperature), temperature ** 2 * reference, atol=1e-6)


def test_distillation_loss_is_zero_when_the_student_matches_and_trains_the_student():
    teacher = torch.tensor([[2.0, 0.0, -2.0]])
    assert distillation_loss(teacher.clone(), teacher).abs() < 1e-6
    student = torch.zeros(1, 3, requires_grad=True)
    distillation_loss(student, teacher).backward()
    # The gradient pushes the student's logits toward the teacher's order.
    assert student.grad[0, 0] < 0 < student.grad[0, 2]
