"""A tiny network trained with nothing but the engine: Tensors, registry ops and backward().

Fits y = sin(x) on [-3, 3] with a 1-16-1 tanh network and plain gradient descent, and prints the loss falling.
"""

import numpy as np

import tinygrad_rnn as tg


def main(steps: int = 300, lr: float = 0.1, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x = tg.tensor(np.linspace(-3, 3, 64).reshape(-1, 1))
    y = tg.tensor(np.sin(x.numpy()))
    weight_in = tg.randn(1, 16, generator=rng, requires_grad=True)
    bias_in = tg.zeros(16, requires_grad=True)
    weight_out = tg.Tensor(rng.standard_normal((16, 1)) * 0.25, dtype=np.float32, requires_grad=True)
    params = [weight_in, bias_in, weight_out]
    for step in range(steps + 1):
        hidden = (x @ weight_in + bias_in).tanh()
        loss = ((hidden @ weight_out - y) ** 2).mean()
        for p in params:
            p.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p.data -= lr * p.grad
        if step % 50 == 0:
            print(f"step {step:4d}  mse {loss.item():.5f}")
    return loss.item()


if __name__ == "__main__":
    main()
