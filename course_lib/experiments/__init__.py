"""Recipes shared by a notebook and its benchmark, so both run the same code.

A recipe loads a dataset into tensors, builds a model by method name from the pieces in
``course_lib.models``, trains it with ``course_lib.train.fit`` and returns a table row
(``common.MethodResult``). No model or dataset class is defined here.

- ``av_digits_fusion``: unimodal baselines and every fusion method on AV-Digits (notebooks 03, 10).
- ``sort_of_clevr_vqa``: visual question answering on Sort-of-CLEVR-Text (notebook 06).
- ``av_digits_video_fusion``: temporal models, fusion over time, multitask, synchrony and an autoencoder
  on AV-Digits-Video (notebook 09).
- ``contrastive``: contrastive alignment and cross-modal retrieval (notebook 11).
- ``common``: what every recipe returns, and per-group accuracies.
"""
