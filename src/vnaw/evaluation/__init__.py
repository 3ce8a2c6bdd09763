"""Evaluation: the metric, equations 13–15 (:mod:`~vnaw.evaluation.metrics`), whole-split scoring
(:mod:`~vnaw.evaluation.evaluate`), image classifiers (:mod:`~vnaw.evaluation.classifier`), tables and plots."""
