"""Augmentation: frame skipping and in-frame erasing of video clips (equations 3–5) in
:mod:`~vnaw.augment.video` (paper §3.2–3.4); flips, affine jitter and random erasing of single
images for pretraining (:mod:`~vnaw.augment.image`)."""
