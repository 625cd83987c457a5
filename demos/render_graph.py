"""Pictures of backpropagation through time: the unrolled graph of a tiny RNN, LSTM and GRU, with gradients.

Each model reads a short random sequence; the loss is the squared error of its last hidden state against a
fixed target. The picture runs its
own backward over the kept graph: each cell at each step is one node coloured by ||dL/dh_t||, every edge is as
wide as the gradient it carries back, the hidden-state path is red, and each shared parameter is drawn once.
With --page, also the interactive page of each model after a short training run, its gradient flow recorded
every few steps (analysis.FlowRecorder) for the page's training slider; --screenshot saves a picture of that
page in headless Chromium after clicking a hidden state.

    python demos/render_graph.py                     # out/graph_rnn.svg/.png, out/graph_lstm..., out/graph_gru...
    python demos/render_graph.py --steps 4 --expand  # every op of every step
    python demos/render_graph.py --cells lstm --steps 6 --page --screenshot out/page.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn, optim, viz
from tinygrad_rnn.cli.arguments import (
    Parser,
    comma_list,
    file_name,
    make_output_folder,
    nonnegative,
    output_folder,
    positive,
)

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make_model(cell: str, hidden_size: int, seed: int) -> nn.Module:
    nn.manual_seed(seed)
    return CELLS[cell](2, hidden_size, dtype=np.float64)


def squared_error(model: nn.Module, inputs: tg.Tensor) -> tg.Tensor:
    """mean((h_T - y)^2) for a fixed target y, with its graph."""
    output, _ = model(inputs)
    return ((output[-1] - np.linspace(-0.8, 0.8, model.hidden_size)) ** 2).mean()


def unrolled_loss(model: nn.Module, inputs: tg.Tensor) -> tg.Tensor:
    """The loss, its graph recorded under keep_values (so the picture shows the values of small tensors)."""
    with tg.keep_values():
        return squared_error(model, inputs)


def train(model: nn.Module, inputs: tg.Tensor, steps: int, every: int) -> analysis.FlowRecorder:
    """A short SGD run on the same loss, recording the gradient flow every `every` steps."""
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    recorder = analysis.FlowRecorder(model, every=every)
    for _ in range(steps):
        optimizer.zero_grad()
        recorder.backward(squared_error(model, inputs))
        recorder.clip(1.0)
        optimizer.step()
    return recorder


def render_all(args: argparse.Namespace) -> list[str]:
    """Render one picture per cell and format (and a page per cell with --page); returns the paths written."""
    folder = Path(args.out)
    written = []
    options = {"collapse": None if args.expand else "timestep", "intermediates": args.all_tensors}
    for cell in args.cells:
        model = make_model(cell, args.hidden_size, args.seed)
        inputs = tg.Tensor(np.random.default_rng(args.seed).standard_normal((args.steps, 1, 2)))
        params = {f"{cell}.{name}": parameter for name, parameter in model.named_parameters()}
        title = f"{cell.upper()}: {args.steps} steps unrolled, hidden size {args.hidden_size}; loss = mean((h_T - y)²)"
        loss = unrolled_loss(model, inputs)
        for fmt in args.formats:
            written.append(viz.render(loss, folder / f"graph_{cell}.{fmt}", params=params, title=title, **options))
        if args.page:
            recorder = train(model, inputs, args.train_steps, max(1, args.train_steps // 10))
            loss = unrolled_loss(model, inputs)
            page = viz.to_html(loss, folder / f"graph_{cell}.html", params=params, snapshots=recorder.snapshots,
                               title=f"{title}, after {args.train_steps} training steps", **options)
            written.append(page)
            if args.screenshot:
                written.append(screenshot(page, Path(args.screenshot)))
    return written


def screenshot(page: str, target: Path) -> str:
    """Open the page in headless Chromium (Debian's chromium and chromedriver), click the hidden state of the
    first step, and save what the window shows to `target` (a PNG)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="tg-chromium-")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--no-first-run", f"--user-data-dir={profile}", "--window-size=1700,1000",
                     "--force-device-scale-factor=1"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(Path(page).resolve().as_uri())
        first = min(driver.find_elements(By.CSS_SELECTOR, "g.node[data-kind=step]"),
                    key=lambda node: int(node.get_attribute("data-t")))
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", first)
        target.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(target))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return str(target)


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="render_graph.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=comma_list(allowed=tuple(CELLS)), default=list(CELLS), help="rnn,lstm,gru")
    parser.add_argument("--steps", type=positive(int, 50), default=8,
                        help="time steps (at most 50; past 6 the middle ones are drawn as one run)")
    parser.add_argument("--hidden-size", type=positive(int, 64), default=3)
    parser.add_argument("--formats", type=comma_list(allowed=("svg", "png", "pdf", "dot")), default=["svg", "png"])
    parser.add_argument("--expand", action="store_true", help="draw every op of every step (default: one node per "
                                                              "cell per step)")
    parser.add_argument("--collapse", action="store_true", help="one node per cell per step (the default)")
    parser.add_argument("--all-tensors", action="store_true",
                        help="draw every tensor an op makes (default: ops, hidden states, leaves, output)")
    parser.add_argument("--page", action="store_true",
                        help="also write the interactive page, graph_<cell>.html, after a short training run")
    parser.add_argument("--train-steps", type=positive(int, 1000), default=60, help="training steps for --page")
    parser.add_argument("--screenshot", type=file_name(("png",)),
                        help="with --page: save a PNG of the page in headless Chromium here")
    parser.add_argument("--out", type=output_folder, default="out")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--smoke", action="store_true", help="same pictures (they are already fast)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.expand and args.collapse:
        parser.error("argument --expand: not allowed with --collapse")
    if args.screenshot and not args.page:
        parser.error("argument --screenshot: needs --page (it is a picture of the page)")
    if args.screenshot and len(args.cells) != 1:
        parser.error("argument --screenshot: pick the one cell to show (e.g. --cells lstm)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    make_output_folder(build_parser(), args.out)  # made only when the demo runs
    try:
        for path in render_all(args):
            print(f"wrote {path}")
    except viz.GraphvizNotFoundError as error:
        print(f"render_graph.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
