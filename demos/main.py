"""`make demo`: train a character-level RNN for about a minute, measure the vanishing gradient, draw BPTT, and
write the trained char-RNN's interactive page.

Runs three demos with their defaults and writes everything to `out/` (or `--out`):
  1. char_rnn.py            the char-RNN on the standard library's docstrings (checkpoint out/char_rnn.npz,
                            replaced on every run)
  2. vanishing_gradients.py out/vanishing_gradients.png and the BPTT graph at two radii, out/bptt_radii.png
  3. render_graph.py        the unrolled RNN graph with its gradients, out/graph_rnn.svg and .png
then the page out/char_rnn.html: the trained char-RNN reading a held-out sentence, its gradients through time.
`--smoke` runs each in its small test mode (seconds). The labs run on their own: `tinygrad-rnn demo NAME`.
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import fnmatch  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _lab import report, sibling  # noqa: E402

from tinygrad_rnn.cli.arguments import Parser, file_name, make_output_folder, output_folder  # noqa: E402

WHAT_TO_LOOK_AT = {
    "char_rnn.html": "open in a browser: the trained char-RNN on a held-out sentence; hover a step for "
                     "||dL/dh_t||, click a hidden state for its paths to the loss, move the time slider",
    "vanishing_gradients.png": "log ||dL/dh_t|| against t: straight lines whose slope is the decay per step, one "
                               "per spectral radius, and the LSTM",
    "bptt_radii.png": "the BPTT graph at the smallest and largest radius, one above the other: the red path "
                      "fades or grows",
    "bptt_radius_*.png": "one radius's BPTT graph, with the gradient norm on each edge",
    "graph_rnn.svg": "the unrolled tanh RNN, every op drawn, edges as wide as the gradient they carry back",
    "graph_rnn.png": "the same graph as a picture",
    "char_rnn.npz": "the trained char-RNN's checkpoint: train it on with demos/char_rnn.py --resume --checkpoint "
                    "<this file> --steps N",
}
LABS = ("gradient_cliff", "copy_task", "truncation", "memory_horizon", "carousel",
        "watch_it_learn")


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="main.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default="out", help="folder for everything written")
    parser.add_argument("--smoke", action="store_true", help="each demo in its small test mode")
    parser.add_argument("--screenshot", type=file_name(("png",)),
                        help="also save a PNG of the page in headless Chromium here (the README's picture)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(sys.argv[1:] if argv is None else argv)


def held_out_sentence(text: str, vocab: str, longest: int = 32) -> str:
    """A short held-out sentence the model can read (all its characters in the vocabulary)."""
    for found in re.finditer(rf"(?<![A-Za-z])[A-Z][a-z][a-z ,]{{12,{longest - 3}}}\.", text):
        if set(found.group()) <= set(vocab):
            return found.group()
    return "".join(char for char in text if char in vocab)[:longest]


def char_rnn_page(checkpoint: Path, target: Path) -> Path:
    """The interactive page of the char-RNN saved at `checkpoint`, reading a held-out sentence: the graph of its
    loss (the mean cross-entropy of each next character), with the gradients through time."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import viz
    from tinygrad_rnn.nn.functional import cross_entropy
    from tinygrad_rnn.serialization import load

    char_rnn = sibling("char_rnn")
    saved = load(checkpoint)
    config = saved["config"]
    vocab = config["vocab"]
    model = char_rnn.CharModel(len(vocab), config["cell"], config["hidden_size"], config["embedding_dim"],
                               config["num_layers"])
    model.load_state_dict(saved["model"])
    sentence = held_out_sentence(char_rnn.stdlib_docstrings(60_000)[1], vocab)  # the same held-out modules
    ids = np.array([vocab.index(char) for char in sentence], dtype=np.int64)
    with tg.keep_values():  # the page shows the values of small tensors
        logits, _ = model(ids[:-1, None])
        loss = cross_entropy(logits.reshape(-1, len(vocab)), ids[1:])
    title = (f"char-RNN ({config['cell']}, hidden {config['hidden_size']}, trained {int(saved['step'])} steps) "
             f"reading \"{sentence}\" (held out): loss {loss.item():.2f} nats/char")
    return Path(viz.to_html(loss, target, params=dict(model.named_parameters()), title=title,
                            step_labels=list(sentence[:-1])))  # step t reads sentence[t]


def files_in(folder: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (inode, modification time, size) of each file in `folder`: what changes when a file is written."""
    if not folder.is_dir():
        return {}
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
            for path in sorted(folder.iterdir()) if path.is_file()}


def look_at(name: str) -> tuple[int, str]:
    """Where `name` comes in the list of files written, and what to look at in it."""
    found = [(rank, what) for rank, (pattern, what) in enumerate(WHAT_TO_LOOK_AT.items())
             if fnmatch.fnmatch(name, pattern)]
    return found[0] if found else (len(WHAT_TO_LOOK_AT), "written by one of the demos above")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    make_output_folder(build_parser(), args.out)  # made only when the demo runs
    smoke, out = (["--smoke"] if args.smoke else []), Path(args.out)
    started, before = time.perf_counter(), files_in(out)
    print("== 1/4 char-RNN on the docstrings of the Python standard library ==")
    status = sibling("char_rnn").main([*smoke, "--checkpoint", str(out / "char_rnn.npz"), "--overwrite"])
    if status != 0:
        return status
    print("\n== 2/4 the vanishing gradient ==")
    status = sibling("vanishing_gradients").main([*smoke, "--out", str(out)])
    if status != 0:
        return status
    print("\n== 3/4 the unrolled graph of an RNN, with gradients ==")
    status = sibling("render_graph").main(["--cells", "rnn", "--out", str(out)])
    if status != 0:
        return status
    print("\n== 4/4 the interactive page: the trained char-RNN, its gradients through time ==")
    from tinygrad_rnn import viz

    try:
        char_rnn_page(out / "char_rnn.npz", out / "char_rnn.html")
        if args.screenshot:
            print("screenshot:", sibling("render_graph").screenshot(str(out / "char_rnn.html"), Path(args.screenshot)))
    except viz.GraphvizNotFoundError as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return 1
    written = sorted((look_at(name), name) for name, state in files_in(out).items() if before.get(name) != state)
    print(f"\ndone in {time.perf_counter() - started:.0f} s.")
    report([(out / name, what) for (_, what), name in written])
    print("next, the labs (a picture and a measured number each): "
          + ", ".join(f"tinygrad-rnn demo {name}" for name in LABS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
