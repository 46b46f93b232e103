"""Atrial fibrillation from RR intervals: the public names, from the modules that hold them.

* :mod:`telemed_signal.af_classifier`: the method (Petrėnas, Marozas & Sörnmo 2015, with the
  ectopy gates of :mod:`telemed_signal.af_ectopy` and a minimum episode), its parameters
  :class:`AfParams`, the streaming per-beat :class:`AfBeatClassifier` and :func:`detect_af`;
* :mod:`telemed_signal.af_detector`: onset/offset Findings (:class:`AfDetector`),
  :func:`af_episodes` and :func:`af_burden`;
* :mod:`telemed_signal.strip`: short single-lead strips (:func:`classify_strip`).
"""

from __future__ import annotations

from telemed_signal.af_classifier import AfBeatClassifier, AfParams, detect_af
from telemed_signal.af_detector import AfDetector, af_burden, af_episodes
from telemed_signal.strip import classify_strip

__all__ = [
    "AfBeatClassifier",
    "AfDetector",
    "AfParams",
    "af_burden",
    "af_episodes",
    "classify_strip",
    "detect_af",
]
