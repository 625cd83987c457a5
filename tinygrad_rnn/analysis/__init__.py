"""Gradient flow through time, read from the unrolled graph.

- `jacobians.py`: ||dL/dh_t|| per step, exact Jacobian norms ||d h_T / d h_t||, spectral tools.
- `edges.py`: the gradient each edge of the graph carries (what the renderer draws).
- `steps.py`: the time steps, layers and hidden states the scopes name.
- `decompose.py`: one backward split by the time step of each use of a parameter.
- `credit.py`: the credit ledger, credit by lag, the truncation meter.
- `connectivity.py`: ||dy_t/dx_s|| for every pair of steps, and how far back it reaches.
- `gates.py`: the LSTM's carousel and the GRU's direct path; gate means and saturation.
- `flow.py`: ||dL/dh_t|| recorded over training.
- `rtrl.py`: real-time recurrent learning, the BPTT gradient computed forward in time (forward mode).
- `plots.py`: a matplotlib picture of each (imported on first use).
"""

from .connectivity import connectivity, horizon, lag_profile
from .credit import CreditMatrix, Ledger, Truncation, credit, credit_matrix, truncation, truncations
from .edges import input_gradients
from .flow import FlowRecorder, FlowSnapshot, load_flow
from .gates import GatePaths, gate_paths
from .jacobians import (
    gradient_norms_through_time,
    jacobian_norms,
    largest_singular_value,
    scale_to_spectral_radius,
    scaled_orthogonal,
    spectral_radius,
)
from .rtrl import rtrl_gradient

__all__ = [
    "CreditMatrix", "FlowRecorder", "FlowSnapshot", "GatePaths", "Ledger", "Truncation", "connectivity", "credit",
    "credit_matrix", "gate_paths", "gradient_norms_through_time", "horizon", "input_gradients", "jacobian_norms",
    "lag_profile", "largest_singular_value", "load_flow", "rtrl_gradient", "scale_to_spectral_radius",
    "scaled_orthogonal", "spectral_radius", "truncation", "truncations",
]
