"""The chapters' exercises: each check runs the learner's answer and says, in one sentence, what to fix.

    feedback     how every check is built: Feedback, NotYet, @exercise, call_learner, *_answer
    chapter01    shared and new layers, copying weights, soft targets, what counts as transfer
    chapter02    softmax, the cross-entropy gradient, choosing a learning rate
    chapter03    the statistics behind normalisation, accuracy from logits
    chapter04    moving a model to a new task by hand

    >>> from tl_lessons.exercises.chapter02 import check_softmax
"""
