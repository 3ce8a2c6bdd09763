"""Per-frame features: the frozen image encoder run once over every crop (:mod:`~vnaw.features.extract`)
and the memory-mapped store that serves them to training (:mod:`~vnaw.features.store`)."""
