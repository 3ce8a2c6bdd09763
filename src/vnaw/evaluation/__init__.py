"""Evaluation: the metric, equations 13–15 (:mod:`~vnaw.evaluation.metrics`), whole-split scoring
(:mod:`~vnaw.evaluation.evaluate`), Tables 1 and 2 (:mod:`~vnaw.evaluation.experiments`), image
classifiers (:mod:`~vnaw.evaluation.classifier`), tables and plots."""
