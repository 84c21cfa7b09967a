"""Corpora, splits and batch sampling; the Markov source's entropy rate."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from scaling.training.data.corpus import BatchSampler, _stdlib_files, eval_windows, load_corpus
from scaling.training.data.markov import MarkovSource


def test_markov_cross_entropy_under_true_table_equals_entropy_rate() -> None:
    rng = np.random.default_rng(0)
    source = MarkovSource.random(8, alpha=0.5, rng=rng)
    chains = source.sample(256, 2000, rng)
    per_token = -np.log(source.transition[chains[:, :-1], chains[:, 1:]])
    standard_error = per_token.std() / math.sqrt(per_token.size)
    assert source.cross_entropy(chains) == pytest.approx(source.entropy_rate(), abs=4 * standard_error)


def test_entropy_rate_of_a_two_state_chain() -> None:
    # P = [[1-a, a], [b, 1-b]]: pi = (b, a)/(a+b), H = (b h(a) + a h(b))/(a+b), h binary entropy.
    a, b = 0.1, 0.3
    source = MarkovSource(np.array([[1 - a, a], [b, 1 - b]]))

    def h(p: float) -> float:
        return -p * math.log(p) - (1 - p) * math.log(1 - p)

    np.testing.assert_allclose(source.stationary(), [b / (a + b), a / (a + b)])
    assert source.entropy_rate() == pytest.approx((b * h(a) + a * h(b)) / (a + b), rel=1e-12)


def test_markov_corpus_is_deterministic_and_reports_its_entropy() -> None:
    spec = "synthetic:markov:seed=3,vocab=12,tokens=20000,chains=100"
    first, second = load_corpus(spec), load_corpus(spec)
    assert first.digest == second.digest and first.vocab_size == 12
    assert 0 < first.facts["entropy_rate"] < math.log(12)
    assert first.train.size + first.val.size == 20000
    assert load_corpus("synthetic:markov:seed=4,vocab=12,tokens=20000,chains=100").digest != first.digest


def _write_folder(root: Path, n_docs: int = 40) -> Path:
    root.mkdir()
    for i in range(n_docs):
        (root / f"doc{i:02d}.txt").write_text(f"document {i}\n" + "lorem ipsum dolor " * (20 + i))
    (root / "binary.dat").write_bytes(b"\x00\x01\x02" * 10)
    return root


def test_folder_split_is_by_document_and_deterministic(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "docs")
    corpus = load_corpus(str(root), val_fraction=0.1, cache=tmp_path / "cache")
    val_docs = {d for d in bytes(corpus.val).split(b"\x00")}
    train_docs = {d for d in bytes(corpus.train).split(b"\x00")}
    assert val_docs and not val_docs & train_docs
    assert len(val_docs) + len(train_docs) == 40  # the binary file is skipped
    assert corpus.val.size == pytest.approx(0.1 * (corpus.train.size + corpus.val.size), rel=0.5)
    cached = load_corpus(str(root), val_fraction=0.1, cache=tmp_path / "cache")
    assert isinstance(cached.train, np.memmap) and cached.digest == corpus.digest


def test_single_text_file_holds_out_its_tail(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_bytes(bytes(range(1, 101)) * 10)
    corpus = load_corpus(str(path), val_fraction=0.1)
    assert corpus.val.size == 100 and bytes(corpus.train) + bytes(corpus.val) == path.read_bytes()


@pytest.mark.parametrize("suffix", [".bin", ".npy"])
def test_token_files(tmp_path: Path, suffix: str) -> None:
    tokens = np.arange(1000, dtype=np.uint16) % 500
    path = tmp_path / f"tokens{suffix}"
    np.save(path, tokens) if suffix == ".npy" else tokens.tofile(path)
    corpus = load_corpus(f"tokens:{path}:vocab=500", val_fraction=0.05)
    assert corpus.vocab_size == 500 and corpus.val.size == 50
    np.testing.assert_array_equal(np.concatenate([corpus.train, corpus.val]), tokens)


def test_token_folder_with_nanogpt_splits(tmp_path: Path) -> None:
    np.arange(300, dtype=np.uint32).tofile(tmp_path / "train.bin")
    np.arange(50, dtype=np.uint32).tofile(tmp_path / "val.bin")
    corpus = load_corpus(f"tokens:{tmp_path}:vocab=70000,dtype=uint32")
    assert corpus.train.size == 300 and corpus.val.size == 50


def test_token_digest_is_computed_once_per_version_of_the_file(tmp_path: Path, monkeypatch) -> None:
    import os

    from scaling.training.data import corpus as corpus_module

    path = tmp_path / "tokens.bin"
    (np.arange(1000, dtype=np.uint16) % 500).tofile(path)
    spec, cache = f"tokens:{path}:vocab=500", tmp_path / "cache"
    first = load_corpus(spec, cache=cache)
    assert first.digest == corpus_module.token_digest(first.train, first.val)

    def no_hashing(train, val):
        raise AssertionError("hashed again")

    monkeypatch.setattr(corpus_module, "token_digest", no_hashing)
    assert load_corpus(spec, cache=cache).digest == first.digest  # cached by path, size, mtime
    monkeypatch.undo()
    (np.arange(1000, dtype=np.uint16) % 499).tofile(path)  # rewritten: same size, new contents
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert load_corpus(spec, cache=cache).digest != first.digest


@pytest.mark.parametrize("spec", ["tokens:x.bin", "synthetic:zipf", "synthetic:markov:colour=red", "no/such/path"])
def test_bad_specs_raise_value_error(spec: str) -> None:
    with pytest.raises(ValueError):
        load_corpus(spec)


def test_stdlib_file_list_excludes_installed_packages() -> None:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = _stdlib_files(root)
    assert len(files) > 500
    assert not any("site-packages" in f.parts for f in files)


def test_sampler_visits_every_window_once_per_epoch() -> None:
    tokens = np.arange(10 * 8 + 1, dtype=np.uint16)  # exactly 10 windows of 8 (+1 target)
    sampler = BatchSampler(tokens, seq_len=8, batch_size=3, seed=0)
    batches = [sampler.batch(step) for step in range(10)]  # 30 windows = 3 epochs
    starts = np.concatenate([b[:, 0] for b in batches])
    for epoch in range(3):
        assert sorted(starts[epoch * 10:(epoch + 1) * 10]) == list(range(0, 80, 8))
    assert batches[0].shape == (3, 9) and batches[0].dtype == np.int64
    np.testing.assert_array_equal(batches[0][:, 1:] - batches[0][:, :-1], 1)  # contiguous windows
    fresh = BatchSampler(tokens, seq_len=8, batch_size=3, seed=0)
    np.testing.assert_array_equal(fresh.batch(7), batches[7])  # a pure function of (seed, step)
    assert sampler.epochs(10) == 3.0
    assert not np.array_equal(BatchSampler(tokens, seq_len=8, batch_size=3, seed=1).batch(0), batches[0])


def test_eval_windows_are_fixed_and_spread() -> None:
    tokens = np.arange(1001, dtype=np.uint16)
    windows = eval_windows(tokens, seq_len=10, eval_tokens=50)
    assert windows.shape == (5, 11)
    assert windows[0, 0] == 0 and windows[-1, 0] == 990
    np.testing.assert_array_equal(windows, eval_windows(tokens, seq_len=10, eval_tokens=50))
