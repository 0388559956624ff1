"""Knowledge distillation: one concrete meaning of "knowledge transfer".

A trained teacher gives, for every image, a probability for every class. Those
probabilities say more than the label: a cat photo that the teacher finds a bit dog-like
carries that resemblance. Dividing the logits by a temperature T > 1 before the softmax
flattens the distribution, so the small probabilities become visible (the "soft targets").
A student then learns to match them (Hinton, Vinyals and Dean, "Distilling the Knowledge in
a Neural Network", 2015).

    >>> teacher, student = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)   # a trained network, a new one
    >>> x = torch.randn(8, 4)
    >>> loss = distillation_loss(student(x), teacher(x).detach(), temperature=4.0)
    >>> loss.backward()                    # only the student learns: the teacher's outputs are fixed targets
    >>> student.weight.grad.shape, teacher.weight.grad
    (torch.Size([3, 4]), None)
"""
import torch
import torch.nn.functional as F


def soft_targets(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / T) over the last dimension; T = 1 is the plain softmax.

    >>> soft_targets(torch.tensor([4.0, 2.0, 0.0]), temperature=2.0)
    tensor([0.6652, 0.2447, 0.0900])
    """
    return F.softmax(logits / temperature, dim=-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float = 4.0) -> torch.Tensor:
    """T^2 times the KL divergence from the teacher's soft targets to the student's, averaged over the batch.

    The gradient of the softened loss shrinks like 1/T^2, so multiplying by T^2 keeps its size
    comparable across temperatures (and to a hard-label cross-entropy added beside it).

    >>> distillation_loss(torch.zeros(1, 3), torch.zeros(1, 3))   # identical outputs: nothing to learn
    tensor(0.)
    """
    teacher = soft_targets(teacher_logits, temperature)
    student_log = F.log_softmax(student_logits / temperature, dim=-1)
    # KL(teacher || student) = sum teacher * (log teacher - log student); xlogy makes 0 * log 0 = 0.
    per_image = (torch.xlogy(teacher, teacher) - teacher * student_log).sum(dim=-1)
    return temperature ** 2 * per_image.mean()
