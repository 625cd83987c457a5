"""demos/sequence_classification.py: its examples, its packed and padded models, a smoke run that beats the
majority baseline, its picture, and its command line."""

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

DEMOS = Path(__file__).resolve().parent.parent / "demos"
HAS_DOT = shutil.which("dot") is not None


@pytest.fixture(scope="module")
def lab():
    sys.path.insert(0, str(DEMOS))  # the demo imports _lab from its folder
    spec = importlib.util.spec_from_file_location("demo_sequence_classification", DEMOS / "sequence_classification.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classes_are_parity_and_sum_sign(lab):
    rng = np.random.default_rng(0)
    sequences, labels = lab.make_examples(rng, "parity", [1, 5, 3, 8])
    assert [len(sequence) for sequence in sequences] == [1, 5, 3, 8]
    assert all(set(np.unique(sequence)) <= {-1.0, 1.0} for sequence in sequences)
    assert labels.tolist() == [int(np.sum(sequence == 1.0)) % 2 for sequence in sequences]
    sequences, labels = lab.make_examples(rng, "sum-sign", [4, 2, 7])
    assert labels.tolist() == [int(sequence.sum() > 0) for sequence in sequences]


def test_packed_and_padded_readouts(lab):
    """Packed reads each sequence at its own end, padded after the padding."""
    nn.manual_seed(0)
    packed = lab.Classifier("gru", 5, packed=True)
    padded = lab.Classifier("gru", 5, packed=False)
    padded.load_state_dict(packed.state_dict())
    sequences, _ = lab.make_examples(np.random.default_rng(1), "parity", [6, 3, 6])
    with tg.no_grad():
        together_packed, together_padded = packed(sequences).data, padded(sequences).data
        alone = np.concatenate([packed([sequence]).data for sequence in sequences])
    np.testing.assert_allclose(together_packed, alone, atol=1e-6)  # packing: as if each ran alone
    np.testing.assert_allclose(together_padded[[0, 2]], alone[[0, 2]], atol=1e-6)  # full length: no padding read
    assert not np.allclose(together_padded[1], alone[1], atol=1e-3)  # 3 steps of padding read after its end


def test_smoke_beats_majority_baseline(lab, tmp_path, capsys):
    graph_paths = [tmp_path / name for name in lab.GRAPH_FILES] if HAS_DOT else []
    rows = lab.run(lab.parse_args(["--smoke", "--no-progress"]), graph_paths)
    printed = capsys.readouterr().out
    assert "majority baseline" in printed and "packed: h_n at each sequence's own last step" in printed
    assert [row["mode"] for row in rows] == ["packed"]
    assert 0.4 < rows[0]["baseline"] < 0.6
    assert rows[0]["accuracy"] > rows[0]["baseline"] + 0.3  # parity up to 8 steps: all of seeds 0-4 reach 100%
    for path in graph_paths:
        assert path.stat().st_size > 1000 and str(path) in printed, path
    if HAS_DOT:
        svg = (tmp_path / "sequence_classification_graph.svg").read_text()
        assert "t=3" in svg and "t=4" not in svg  # the longest of the lengths 2, 4, 1 has steps 0-3


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_second_run_keeps_pictures(lab, tmp_path, capsys):
    args = ["--smoke", "--no-progress", "--out", str(tmp_path), "--steps", "2"]
    assert lab.main(args) == 0
    before = (tmp_path / "sequence_classification_graph.png").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        lab.main(args)
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "sequence_classification_graph.png").read_bytes() == before
    assert lab.main([*args, "--overwrite"]) == 0


def test_bad_length_range_is_refused(lab, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lab.parse_args(["--min-length", "9", "--max-length", "4"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "argument --min-length: 9 is more than --max-length 4" in err
    with pytest.raises(SystemExit):
        lab.parse_args(["--max-length", "1000", "--batch-size", "4096", "--hidden-size", "1024"])
    assert "make one of them smaller" in capsys.readouterr().err
