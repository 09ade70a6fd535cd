"""Features computed outside the network, one module per kind of input.

- ``audio``: a hand-written STFT, power spectrogram, log-mel and MFCC (torchaudio).
- ``image``: LBP texture histograms (scikit-image), SIFT descriptors and a bag of
  visual words (OpenCV, scikit-learn).
- ``text_encoder``: sentence embeddings from the pretrained all-MiniLM-L6-v2, offline.
- ``flow``: Farneback dense optical flow for a clip or many (``flow_frames``) and its colour-wheel
  picture (OpenCV).

Import from the module you need, e.g. ``from course_lib.features.audio import log_mel``;
the modules load their libraries (transformers, OpenCV) only when imported.
"""
