"""Temperature calibration of zero-shot scores: the expected calibration error and a fitted temperature.

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 200) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 minimising the NLL of softmax(logits / T) on a
    labelled validation set, within [0.01, 100]. Stored as `model.config.zero_shot_temperature` (see
    `ZeroShotProteinClassificationPipeline.calibrate`), the zero-shot pipeline divides by it."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not 1e-2 <= temperature <= 1e2:
        warnings.warn(f"fitted temperature {temperature:.3g} clipped to [0.01, 100]: the logits rank the labels "
                      "no better than chance (T -> infinity) or perfectly separate them (T -> 0)", stacklevel=2)
        temperature = min(max(temperature, 1e-2), 1e2)
    return temperature


__all__ = ["expected_calibration_error", "fit_temperature"]
