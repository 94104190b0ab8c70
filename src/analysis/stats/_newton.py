"""Newton-Raphson with step halving, shared by the hand-written likelihood fits (grouped logistic, multinomial)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = []


def _solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """H^-1 g, by least squares when H is singular."""
    try:
        return np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(H, g, rcond=None)[0]


def _damped_newton(beta: np.ndarray, loglik: Callable, newton_step: Callable, *, max_iter: int, tol: float,
                   step_tol: float, either: bool = False):
    """Maximise *loglik* from *beta*.

    ``loglik(b) -> (value, state)``; ``newton_step(b, state) -> step`` (shaped as *b*). A step is halved
    until the log-likelihood does not fall. Converged when the relative change of the log-likelihood is
    within *tol* and the largest step within *step_tol* (or either, with *either*). Returns
    ``(beta, state, converged)``, the state of the final *beta*.
    """
    ll, state = loglik(beta)
    for _ in range(max_iter):
        step = newton_step(beta, state)
        t = 1.0
        for _ in range(30):
            new_ll, new_state = loglik(beta + t * step)
            if new_ll >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        beta = beta + t * step
        small_change = abs(new_ll - ll) <= tol * (abs(new_ll) + 1.0)
        small_step = np.max(np.abs(t * step)) < step_tol
        ll, state = new_ll, new_state
        if (small_change or small_step) if either else (small_change and small_step):
            return beta, state, True
    return beta, state, False
