"""Experiments shared by a notebook and its benchmark, so both run the same code.

- ``av_digits_fusion``: unimodal baselines and every fusion method on AV-Digits (notebook 03).
- ``av_digits_video_fusion``: temporal models, fusion over time, multitask, synchrony and an autoencoder
  on AV-Digits-Video (notebook 09).
"""
