"""Frame features computed on demand from a data set's crops — what a feature store holds, for
runs that have none (end-to-end training, a fine-tuned encoder) and for the ABAW submission.

Each crop goes through the same path as ``vnaw extract`` (:func:`vnaw.models.preprocess.load_crop`,
then the video model's encoder, equation 6 in :class:`vnaw.models.video.VideoModel`); frames without a
crop take the nearest crop's features, as in a store (design §3.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vnaw.data.affwild2 import VideoRecord, records_by_name
from vnaw.models.preprocess import load_crop, to_input
from vnaw.models.video import VideoModel


class CropFeatures:
    """``features(video)`` like :class:`vnaw.features.store.FeatureStore`, from the crops."""

    def __init__(
        self, model: VideoModel, records: Sequence[VideoRecord], batch_size: int = 64
    ) -> None:
        if model.encoder is None or model.meta is None:
            raise ValueError("computing features from crops needs a video model with its encoder")
        self.model, self.batch_size = model, batch_size
        self.records = records_by_name(records)

    @torch.no_grad()
    def features(self, video: str, view: int = 0) -> np.ndarray:
        """``(N, D)`` float32 features of every frame of ``video`` (clean view only)."""
        rec = self.records[video]
        meta = self.model.meta
        assert meta is not None
        device = next(self.model.parameters()).device
        frames = np.flatnonzero(rec.has_crop)
        out = []
        for a in range(0, len(frames), self.batch_size):
            crops = [load_crop(rec.crop_path(int(k)), meta.input_size, meta.channels)
                     for k in frames[a : a + self.batch_size]]  # fmt: skip
            x = to_input(np.stack(crops), meta).to(device)
            out.append(self.model.encode(x).float().cpu().numpy())
        feats = np.concatenate(out)
        row_of_frame = np.cumsum(rec.has_crop) - 1  # row k = the k-th frame with a crop
        return feats[row_of_frame[rec.nearest_crop()]]
