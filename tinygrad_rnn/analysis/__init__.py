"""Gradient flow through time, read from the unrolled graph.

- `jacobians.py`: ||dL/dh_t|| per step, exact Jacobian norms ||d h_T / d h_t||, spectral tools.
- `edges.py`: the gradient each edge of the graph carries (what the renderer draws).
- `steps.py`: the time steps, layers and hidden states the scopes name.
- `decompose.py`: one backward split by the time step of each use of a parameter.
- `credit.py`: the credit ledger, credit by lag, the truncation meter.
"""

from .credit import CreditMatrix, Ledger, Truncation, credit, credit_matrix, truncation, truncations
from .edges import input_gradients
from .jacobians import (
    gradient_norms_through_time,
    jacobian_norms,
    largest_singular_value,
    scale_to_spectral_radius,
    scaled_orthogonal,
    spectral_radius,
)

__all__ = [
    "CreditMatrix", "Ledger", "Truncation", "credit", "credit_matrix", "gradient_norms_through_time",
    "input_gradients", "jacobian_norms", "largest_singular_value", "scale_to_spectral_radius", "scaled_orthogonal",
    "spectral_radius", "truncation", "truncations",
]
