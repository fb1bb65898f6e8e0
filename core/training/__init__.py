"""Training of the project's own FER-2013 emotion model (the ``own`` emotion backend).

Modules: :mod:`~core.training.data` (FER-2013 splits, class weights, augmentation), :mod:`~core.training.model`
(the compact VGG-style CNN), :mod:`~core.training.train` (resumable training, CLI ``python -m core.training.train``),
:mod:`~core.training.search` (small Bayesian learning-rate / weight-decay search with optuna) and
:mod:`~core.training.export` (TFLite export, evaluation with flip test-time augmentation, model card).

TensorFlow is imported lazily inside functions so that ``import core.training`` stays cheap.
"""
