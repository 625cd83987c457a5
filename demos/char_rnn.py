"""A character-level language model (after Karpathy's min-char-rnn), with BPTT done by the framework's graph.

The default corpus is the docstrings of the Python standard library installed on this machine, read at run
time (English prose about code; nothing downloaded, no third-party text shipped). Every 20th module (in
sorted path order) forms the held-out set, so the split is fixed and no module is in both. `--text FILE`
trains on any UTF-8 text instead (its last 10% held out).

The text is cut into `--batch-size` parallel streams; each step reads `--seq-len` characters of every stream,
backpropagates through those steps only (truncated BPTT: the hidden state is carried on but detached),
clips the gradient norm and updates. Losses are in nats per character; the unigram entropy of the text
(a model that ignores context) is printed for comparison. Checkpoints are written atomically every
`--checkpoint-every` steps, at the end and on Ctrl-C; `--resume` continues exactly where the run stopped (the
same loss curve as a run that was never interrupted), and a fresh run never replaces an existing checkpoint
unless told to with `--overwrite`.

    python demos/char_rnn.py                       # about a minute on 2 cores
    python demos/char_rnn.py --cell lstm --steps 3000 --text my_book.txt
"""

from __future__ import annotations

import os

# Set before numpy loads: the matrices here are small, so BLAS threads cost more than they give (and on a
# shared machine they fight over the cores). An explicit setting by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import sys
import sysconfig
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.cli.arguments import Parser, file_name, nonnegative, positive, refuse_larger
from tinygrad_rnn.nn.functional import cross_entropy
from tinygrad_rnn.nn.utils import clip_grad_norm_
from tinygrad_rnn.optim import Adagrad, Adam
from tinygrad_rnn.serialization import CheckpointError, load, save

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
OPTIMIZERS = {"adam": Adam, "adagrad": Adagrad}
LEARNING_RATES = {"adam": 3e-3, "adagrad": 0.1}  # Adagrad's is min-char-rnn's
HELD_OUT_TEXT_FRACTION = 0.1
# The checkpoint must agree with the command line on these, or resuming would not continue the same run.
MODEL_KEYS = ("cell", "hidden_size", "embedding_dim", "num_layers", "vocab")
RUN_KEYS = ("corpus", "batch_size", "seq_len", "optimizer", "lr", "clip", "seed")
SMOKE = {"steps": 40, "hidden_size": 48, "embedding_dim": 16, "batch_size": 8, "seq_len": 16, "max_chars": 60_000,
         "eval_chars": 4_000, "sample_every": 20, "sample_len": 60, "checkpoint_every": 20}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 1."""


class CharModel(nn.Module):
    """Embedding -> RNN/LSTM/GRU -> Linear: logits for the next character.  ids (L, N) -> (L, N, vocab)."""

    def __init__(self, vocab_size: int, cell: str, hidden_size: int, embedding_dim: int, num_layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = CELLS[cell](embedding_dim, hidden_size, num_layers)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: np.ndarray, state: Any = None) -> tuple[tg.Tensor, Any]:
        output, state = self.rnn(self.embedding(ids), state)
        return self.decoder(output), state


# ---- the text -----------------------------------------------------------------------------------------------

def stdlib_docstrings(max_chars: int | None) -> tuple[str, str]:
    """(train, held-out) text: docstrings of the installed standard library, printable ASCII only."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    files = sorted(path for path in root.rglob("*.py") if not skip & set(path.relative_to(root).parts))
    keep = "".join(chr(code) for code in range(32, 127)) + "\n"
    train: list[str] = []
    held_out: list[str] = []
    total = 0
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue  # a few stdlib files are deliberately broken or not UTF-8
        docs = [ast.get_docstring(node) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        text = "".join(char for char in "\n\n".join(doc for doc in docs if doc).replace("\t", "    ")
                       if char in keep)
        if not text:
            continue
        is_held_out = (len(train) + len(held_out)) % 20 == 19
        (held_out if is_held_out else train).append(text + "\n\n")
        total += len(text)
        if max_chars is not None and total >= max_chars and held_out:
            break
    if not train or not held_out:
        raise UsageError(f"found too few docstrings under {root} to make a corpus; pass --text FILE instead")
    return "".join(train), "".join(held_out)


def text_file(path: str) -> tuple[str, str]:
    """(train, held-out) text from a UTF-8 file: the last 10% is held out."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--text {path}: no such file") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"--text {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise UsageError(f"--text {path}: cannot read it ({error.strerror})") from None
    if not text:
        raise UsageError(f"--text {path}: the file is empty")
    distinct = sorted(set(text))
    if len(distinct) < 2:
        raise UsageError(f"--text {path}: the text has only one distinct character ({distinct[0]!r}); "
                         "there is nothing to predict")
    split = len(text) - max(2, int(len(text) * HELD_OUT_TEXT_FRACTION))
    return text[:split], text[split:]


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """H = -sum_c p(c) log p(c) in nats: the loss of the best model that ignores context."""
    probabilities = np.bincount(ids, minlength=vocab_size) / len(ids)
    probabilities = probabilities[probabilities > 0]
    return float(-(probabilities * np.log(probabilities)).sum())


def as_streams(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut ids into batch_size contiguous streams, one per column.  (len,) -> (len // batch_size, batch_size)"""
    length = len(ids) // batch_size
    return ids[:length * batch_size].reshape(batch_size, length).T


# ---- training -----------------------------------------------------------------------------------------------

def detach(state: Any) -> Any:
    """Cut the graph at a chunk border (truncated BPTT) while keeping the values."""
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


def loss_on(model: CharModel, streams: np.ndarray, position: int, seq_len: int, state: Any,
            reduction: str = "mean") -> tuple[tg.Tensor, Any]:
    """Cross-entropy of predicting streams[position+1 : position+seq_len+1] from the characters before them."""
    inputs = streams[position:position + seq_len]
    targets = streams[position + 1:position + seq_len + 1]
    logits, state = model(inputs, state)
    vocab_size = logits.shape[-1]
    return cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1), reduction=reduction), state


def evaluate(model: CharModel, streams: np.ndarray, seq_len: int) -> float:
    """Mean nats/char over all streams, carrying the hidden state across chunks (no gradients)."""
    total, count, state = 0.0, 0, None
    with tg.no_grad():
        for position in range(0, len(streams) - 1, seq_len):
            length = min(seq_len, len(streams) - 1 - position)
            loss, state = loss_on(model, streams, position, length, state, reduction="sum")
            total += loss.item()
            count += length * streams.shape[1]
    return total / count if count else math.nan


def sample(model: CharModel, vocab: str, rng: np.random.Generator, length: int, temperature: float = 0.8,
           start: str = "\n") -> str:
    """Draw `length` characters one at a time from the model's softmax(logits / temperature)."""
    index = vocab.find(start[-1]) if start[-1] in vocab else 0
    state, chars = None, []
    with tg.no_grad():
        for char in start[:-1]:
            if char in vocab:
                _, state = model(np.array([[vocab.index(char)]]), state)
        for _ in range(length):
            logits, state = model(np.array([[index]]), state)
            scaled = logits.data[0, 0].astype(np.float64) / temperature
            probabilities = np.exp(scaled - scaled.max())
            index = int(rng.choice(len(vocab), p=probabilities / probabilities.sum()))
            chars.append(vocab[index])
    return "".join(chars)


class StopFlag:
    """Ctrl-C sets the flag; the loop finishes its step, saves and stops (a second Ctrl-C stops at once)."""

    def __init__(self) -> None:
        self.raised = False
        self.previous = signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self.previous)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume) as the arguments say; returns the final checkpoint dictionary."""
    if Path(args.checkpoint).is_dir():
        raise UsageError(f"--checkpoint {args.checkpoint} is a folder: expected the name of a file to write")
    if not args.resume and not args.overwrite and Path(args.checkpoint).exists():
        raise UsageError(f"{args.checkpoint} already exists: continue it with --resume, start afresh over it with "
                         "--overwrite, or choose another --checkpoint")
    train_text, held_out_text = text_file(args.text) if args.text else stdlib_docstrings(args.max_chars)
    corpus = f"{len(train_text)}+{len(held_out_text)} chars, crc32 {zlib.crc32(train_text.encode()):08x}"
    lr = LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    vocab = "".join(sorted(set(train_text) | set(held_out_text)))
    lookup = {char: index for index, char in enumerate(vocab)}
    train_ids = np.array([lookup[char] for char in train_text], dtype=np.int64)
    held_out_ids = np.array([lookup[char] for char in held_out_text[:args.eval_chars]], dtype=np.int64)
    streams = as_streams(train_ids, args.batch_size)
    if len(streams) < args.seq_len + 1:
        raise UsageError(f"the training text has {len(train_ids)} characters, too few for --batch-size "
                         f"{args.batch_size} streams of --seq-len {args.seq_len} + 1; need at least "
                         f"{args.batch_size * (args.seq_len + 1)}")
    held_out_streams = as_streams(held_out_ids, max(1, min(args.batch_size, len(held_out_ids) // 2)))
    config = {"cell": args.cell, "hidden_size": args.hidden_size, "embedding_dim": args.embedding_dim,
              "num_layers": args.num_layers, "vocab": vocab, "corpus": corpus, "batch_size": args.batch_size,
              "seq_len": args.seq_len, "optimizer": args.optimizer, "lr": lr, "clip": args.clip,
              "seed": args.seed}

    nn.manual_seed(args.seed)
    model = CharModel(len(vocab), args.cell, args.hidden_size, args.embedding_dim, args.num_layers)
    optimizer = OPTIMIZERS[args.optimizer](model.named_parameters(), lr=lr)  # an error names the parameter
    sample_rng = np.random.default_rng(args.seed + 1)
    step, position, state, losses = 0, 0, None, []
    if args.resume:
        checkpoint = read_checkpoint(args.checkpoint, config)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        sample_rng = checkpoint["sample_rng"]
        step, position, losses = checkpoint["step"], checkpoint["position"], list(checkpoint["losses"])
        state = restore_state(checkpoint["state"])

    def snapshot() -> dict[str, Any]:
        return {"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "position": position, "state": state_arrays(state), "sample_rng": sample_rng,
                "losses": np.array(losses, dtype=np.float64)}

    entropy = unigram_entropy(train_ids, len(vocab))
    print(f"corpus: {corpus_description(args)}: {len(train_ids):,} training and {len(held_out_ids):,} held-out "
          f"characters, {len(vocab)} distinct")
    print(f"unigram entropy {entropy:.3f} nats/char (uniform over the vocabulary: {math.log(len(vocab)):.3f}); "
          f"model: {args.cell}, hidden {args.hidden_size}, {sum(p.numel() for p in model.parameters()):,} parameters")
    if args.resume:
        print(f"resuming {args.checkpoint} at step {step}")

    stop = StopFlag()
    started, chars_done = time.perf_counter(), 0
    bar = tqdm(total=args.steps, initial=step, unit="step", disable=args.no_progress, dynamic_ncols=True)
    try:
        while step < args.steps and not stop.raised:
            if position + args.seq_len + 1 > len(streams):  # end of the text: start over with a fresh state
                position, state = 0, None
            loss, state = loss_on(model, streams, position, args.seq_len, state)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            state = detach(state)
            position += args.seq_len
            step += 1
            losses.append(loss.item())
            chars_done += args.seq_len * args.batch_size
            recent = float(np.mean(losses[-50:]))
            bar.set_postfix(loss=f"{recent:.3f}", chars_s=f"{chars_done / (time.perf_counter() - started):,.0f}",
                            refresh=False)
            bar.update(1)
            if args.sample_every and step % args.sample_every == 0 and step < args.steps:
                bar.write(f"--- step {step}, loss {recent:.3f} nats/char ---\n"
                          f"{sample(model, vocab, sample_rng, args.sample_len)}")
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                save(snapshot(), args.checkpoint)
    finally:
        bar.close()
        stop.restore()
    save(snapshot(), args.checkpoint)
    if stop.raised:
        print(f"interrupted at step {step}: checkpoint saved to {args.checkpoint}; continue with --resume")
        return snapshot() | {"interrupted": True}

    # the same number of training characters, from the start of every stream: spread over the whole text
    train_loss = evaluate(model, streams[:len(held_out_ids) // args.batch_size + 1], args.seq_len)
    held_out_loss = evaluate(model, held_out_streams, args.seq_len)
    print(f"sample after {step} steps:\n{sample(model, vocab, sample_rng, args.final_sample_len)}\n")
    print(f"loss in nats/char: train {train_loss:.3f}, held-out {held_out_loss:.3f} (each on {len(held_out_ids):,} "
          f"characters); unigram entropy {entropy:.3f}; "
          f"{chars_done / (time.perf_counter() - started):,.0f} chars/s")
    print(f"checkpoint: {args.checkpoint}")
    return snapshot() | {"train_loss": train_loss, "held_out_loss": held_out_loss, "unigram_entropy": entropy}


def corpus_description(args: argparse.Namespace) -> str:
    return args.text if args.text else "docstrings of the Python standard library"


def state_arrays(state: Any) -> list[np.ndarray]:
    """The carried hidden state as plain arrays (h, or h and c), for the checkpoint."""
    if state is None:
        return []
    return [part.data for part in state] if isinstance(state, tuple) else [state.data]


def restore_state(arrays: list[np.ndarray]) -> Any:
    if not arrays:
        return None
    tensors = tuple(tg.Tensor(array) for array in arrays)
    return tensors if len(tensors) == 2 else tensors[0]


def read_checkpoint(path: str, config: dict[str, Any]) -> dict[str, Any]:
    """Load a checkpoint to resume from, refusing one made by a different model or run."""
    try:
        checkpoint = load(path)
    except FileNotFoundError:
        raise UsageError(f"--resume: no checkpoint at {path}") from None
    except CheckpointError as error:
        raise UsageError(f"--resume: {error}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("config"), dict) or not {
            "model", "optimizer", "step", "position", "state", "sample_rng", "losses"} <= set(checkpoint):
        raise UsageError(f"--resume: {path} is a checkpoint, but not one written by this demo")
    saved = checkpoint["config"]
    for keys, what in ((MODEL_KEYS, "a different model"), (RUN_KEYS, "a different run")):
        differences = [key for key in keys if saved.get(key) != config[key]]
        if differences:
            theirs = ", ".join(f"{key}={_short(saved.get(key))}" for key in differences)
            ours = ", ".join(f"{key}={_short(config[key])}" for key in differences)
            raise UsageError(f"--resume: {path} was made by {what} ({theirs}), but this run has {ours}; "
                             "use the same options, or start afresh without --resume")
    return checkpoint


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- command line -------------------------------------------------------------------------------------------

def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="char_rnn.py", description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=file_name(), help="train on this UTF-8 text file (default: stdlib docstrings)")
    parser.add_argument("--max-chars", type=positive(int), default=None,
                        help="read stdlib docstrings only until this many characters")
    parser.add_argument("--cell", choices=sorted(CELLS), default="rnn")
    parser.add_argument("--hidden-size", type=positive(int, 2048), default=256)
    parser.add_argument("--embedding-dim", type=positive(int, 2048), default=32)
    parser.add_argument("--num-layers", type=positive(int, 8), default=1)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--lr", type=positive(float, 10), default=None, help="default: Adam 3e-3, Adagrad 0.1")
    parser.add_argument("--clip", type=positive(float), default=5.0, help="max gradient norm")
    parser.add_argument("--steps", type=positive(int, 10_000_000), default=1500, help="train until this step")
    parser.add_argument("--batch-size", type=positive(int, 4096), default=32)
    parser.add_argument("--seq-len", type=positive(int, 1000), default=50, help="truncated-BPTT length")
    parser.add_argument("--eval-chars", type=positive(int), default=50_000, help="held-out characters to score")
    parser.add_argument("--sample-every", type=nonnegative(int), default=500, help="0: never")
    parser.add_argument("--sample-len", type=positive(int, 100_000), default=200)
    parser.add_argument("--final-sample-len", type=positive(int, 100_000), default=400)
    parser.add_argument("--checkpoint", type=file_name(), default="out/char_rnn.npz")
    parser.add_argument("--checkpoint-every", type=nonnegative(int), default=250, help="0: only at the end")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="start afresh even if --checkpoint exists")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--smoke", action="store_true", help="a tiny run for tests (seconds)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph of a step holds",
                  {"--seq-len": args.seq_len, "--batch-size": args.batch_size,
                   "--hidden-size": max(args.hidden_size, args.embedding_dim), "--num-layers": args.num_layers})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        result = train(args)
    except (UsageError, OSError) as error:  # OSError: the checkpoint folder cannot be made or written
        print(f"char_rnn.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C
        print("char_rnn.py: interrupted", file=sys.stderr)
        return 130
    return 130 if result.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
