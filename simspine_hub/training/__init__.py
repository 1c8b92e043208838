"""Training: recipes as data, the ``transformers.Trainer`` loop, and the trainers built on them.

* :mod:`~simspine_hub.training.recipe` recipe files (YAML, every value with its source);
* :mod:`~simspine_hub.training.trainer` :func:`~simspine_hub.training.trainer.fit`, ``transformers.Trainer``
  configured from a recipe (checkpoints and resume, bf16/fp16, multi-GPU via accelerate, seeding, progress
  bars, TensorBoard and CSV logs), for any model whose ``forward`` takes ``labels`` and returns ``loss``;
* :mod:`~simspine_hub.training.lifter` ``simspine train lifter``: the paper's lifting recipe and the angle
  baseline, evaluated through the leaderboard, written as a hub model folder with its card;
* :mod:`~simspine_hub.training.lifting_data`, :mod:`~simspine_hub.training.evaluation`,
  :mod:`~simspine_hub.training.card` their data, scoring and model card.

Needs the ``train`` extra (torch, transformers, accelerate; tensorboard for TensorBoard logs). Nothing here is
imported by ``import simspine_hub``.
"""
