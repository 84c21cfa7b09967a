"""Corpora as token arrays, deterministic train/val splits, and seeded batch sampling.

Specs (`load_corpus`):
    "stdlib"                        the running interpreter's standard-library *.py files,
                                    byte-level (vocabulary 256); built once, cached
    PATH (a text file or folder)    byte-level; each file of a folder is a document
    "tokens:PATH:vocab=V[,dtype=uint16]"
                                    pre-tokenised nanoGPT-style .bin (uint16 by default, uint32
                                    above 65,536 tokens) or .npy; a folder holding train.bin and
                                    val.bin uses those splits
    "synthetic:markov[:seed=0,vocab=16,tokens=4194304,alpha=0.5]"
                                    a random first-order Markov source whose entropy rate, the
                                    irreducible loss E, is known exactly (scaling.training.data.markov)
Documents are joined with byte 0 (an end-of-document token for byte-level text). Validation
takes whole documents (chosen by a hash of their names) where there are several, else the
tail of the stream. Batches are windows of seq_len + 1 tokens from a non-overlapping grid,
visited in a seeded random order per epoch, so the batch of step k is a pure function of
(seed, k) and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling.training.data.markov import MarkovSource
from scaling.atomic import write_atomic
from scaling.config import MAX_SEED

log = logging.getLogger(__name__)

TokenArray = npt.NDArray[np.unsignedinteger[Any]]
DOCUMENT_SEPARATOR = 0
"""Byte that ends a document in byte-level corpora (absent from source text)."""
CACHE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Corpus:
    """A tokenised corpus split into train and validation streams."""

    spec: str
    train: TokenArray
    val: TokenArray
    vocab_size: int
    digest: str
    """sha256 of the train and validation tokens (what a run's data_digest records)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Documents, sizes, file-list digest, a synthetic source's entropy rate (nats/token)."""


def cache_dir() -> Path:
    """Where built corpora live: $SCALING_CACHE, else ~/.cache/scaling."""
    return Path(os.environ.get("SCALING_CACHE", Path.home() / ".cache" / "scaling"))


def load_corpus(spec: str, *, val_fraction: float = 0.01, cache: Path | None = None) -> Corpus:
    """Load (building and caching when needed) the corpus named by `spec` (module docstring)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    kind, _, rest = spec.partition(":")
    if spec == "stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        return _cached_text_corpus(spec, root, _stdlib_files(root), val_fraction, cache or cache_dir())
    if kind == "synthetic":
        source, _, options = rest.partition(":")
        if source != "markov":
            raise ValueError(f"unknown synthetic source {source!r} in {spec!r}; expected 'markov'")
        return markov_corpus(spec, _parse_options(options, spec), val_fraction)
    if kind == "tokens":
        path, _, options = rest.partition(":")
        return _token_corpus(spec, Path(path), _parse_options(options, spec), val_fraction, cache or cache_dir())
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path) and _is_text(p))
        if not files:
            raise ValueError(f"no text files under {spec!r}")
        return _cached_text_corpus(spec, path, files, val_fraction, cache or cache_dir())
    if path.is_file():
        return _text_corpus(spec, path, [path], val_fraction)
    raise ValueError(f"data spec {spec!r} is neither 'stdlib', 'synthetic:...', 'tokens:...' nor an existing path")


MARKOV_MAX_VOCAB = 1024
"""Largest synthetic Markov vocabulary: the source's stationary distribution is an eigenvector of
its vocab x vocab transition matrix (O(vocab^3); a second at 1024)."""
MARKOV_MAX_TOKENS = 2**27
"""Most tokens a synthetic corpus may hold (1 GiB as int64), checked before sampling."""


def _option_int(options: dict[str, str], key: str, default: int, low: int, high: int, spec: str) -> int:
    """Integer option `key` of a data spec, in [low, high]; ValueError naming it and the spec."""
    text = options.get(key, str(default))
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"data spec {spec!r}: {key} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"data spec {spec!r}: {key} must be from {low} to {high}, got {value}")
    return value


def _parse_options(options: str, spec: str) -> dict[str, str]:
    parsed = {}
    for item in filter(None, options.replace(":", ",").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected key=value in data spec {spec!r}, got {item!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def _stdlib_files(root: Path) -> list[Path]:
    skip = {"site-packages", "dist-packages", "__pycache__"}
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in skip]  # prune: site-packages is huge
        files.extend(Path(folder, n) for n in names if n.endswith(".py"))
    return sorted(files)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _is_text(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\x00" not in f.read(8192)


def _file_list_digest(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cached_text_corpus(spec: str, root: Path, files: list[Path], val_fraction: float, cache: Path) -> Corpus:
    """Build a folder corpus once; later loads memory-map the cached arrays (keyed by file list)."""
    key = hashlib.sha256(f"{CACHE_VERSION}|{root.resolve()}|{val_fraction!r}|"
                         f"{_file_list_digest(root, files)}".encode()).hexdigest()[:16]
    stem = cache / f"text-{key}"
    meta_path = stem.with_suffix(".json")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        train = np.load(f"{stem}-train.npy", mmap_mode="r")
        val = np.load(f"{stem}-val.npy", mmap_mode="r")
        return Corpus(spec=spec, train=train, val=val, vocab_size=256, digest=meta["digest"], facts=meta["facts"])
    corpus = _text_corpus(spec, root, files, val_fraction)
    cache.mkdir(parents=True, exist_ok=True)
    for name, array in (("train", corpus.train), ("val", corpus.val)):
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_atomic(Path(f"{stem}-{name}.npy"), buffer.getvalue())
    write_atomic(meta_path, json.dumps({"digest": corpus.digest, "facts": corpus.facts}).encode())
    log.info("cached corpus %s under %s", spec, stem)
    return corpus


def _text_corpus(spec: str, root: Path, files: list[Path], val_fraction: float) -> Corpus:
    """Byte-level corpus; validation = whole documents in sha256-of-name order (a single
    document: its last `val_fraction`)."""
    names = [p.relative_to(root).as_posix() if p != root else p.name for p in files]
    docs = [p.read_bytes() for p in files]
    total = sum(len(d) for d in docs)
    if len(docs) == 1:
        cut = len(docs[0]) - max(1, int(val_fraction * total))
        train_bytes, val_bytes = docs[0][:cut], docs[0][cut:]
        n_val_docs = 0
    else:
        order = sorted(range(len(docs)), key=lambda i: hashlib.sha256(names[i].encode()).digest())
        val_ids: set[int] = set()
        taken = 0
        for i in order:
            if taken >= val_fraction * total or len(val_ids) == len(docs) - 1:
                break
            val_ids.add(i)
            taken += len(docs[i])
        sep = bytes([DOCUMENT_SEPARATOR])
        train_bytes = sep.join(d for i, d in enumerate(docs) if i not in val_ids)
        val_bytes = sep.join(docs[i] for i in sorted(val_ids))
        n_val_docs = len(val_ids)
    train = np.frombuffer(train_bytes, dtype=np.uint8)
    val = np.frombuffer(val_bytes, dtype=np.uint8)
    facts = {"documents": len(docs), "val_documents": n_val_docs, "train_tokens": int(train.size),
             "val_tokens": int(val.size), "file_list_digest": _file_list_digest(root, files)}
    return Corpus(spec=spec, train=train, val=val, vocab_size=256, digest=token_digest(train, val), facts=facts)


def _token_corpus(spec: str, path: Path, options: dict[str, str], val_fraction: float, cache: Path) -> Corpus:
    if "vocab" not in options:
        raise ValueError(f"token data needs its vocabulary size: {spec!r} (add ':vocab=V')")
    vocab_size = _option_int(options, "vocab", 0, 2, 2**32, spec)
    dtype_name = options.get("dtype", "uint16" if vocab_size <= 2**16 else "uint32")
    if dtype_name not in ("uint8", "uint16", "uint32", "int32", "int64"):
        raise ValueError(f"data spec {spec!r}: dtype must be uint8, uint16, uint32, int32 or int64, got {dtype_name!r}")
    dtype = np.dtype(dtype_name)
    if path.is_dir():
        train, val = _read_tokens(path / "train.bin", dtype), _read_tokens(path / "val.bin", dtype)
    else:
        tokens = _read_tokens(path, dtype)
        cut = tokens.size - max(1, int(val_fraction * tokens.size))
        train, val = tokens[:cut], tokens[cut:]
    files = [path / "train.bin", path / "val.bin"] if path.is_dir() else [path]
    return Corpus(spec=spec, train=train, val=val, vocab_size=vocab_size,
                  digest=_cached_token_digest(files, train, val, cache),
                  facts={"train_tokens": int(train.size), "val_tokens": int(val.size)})


def _cached_token_digest(files: list[Path], train: TokenArray, val: TokenArray, cache: Path) -> str:
    """`token_digest(train, val)`, computed once per version of the files: cached under `cache`
    by each file's resolved path, size and modification time (in nanoseconds) and the split,
    so a run start or resume does not hash a 10 GB corpus again; a rewritten file is hashed anew."""
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = hashlib.sha256(json.dumps([CACHE_VERSION, stats, train.dtype.str, int(train.size),
                                     int(val.size)]).encode()).hexdigest()[:16]
    path = cache / f"tokens-{key}.digest"
    try:
        return path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        pass
    digest = token_digest(train, val)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_atomic(path, digest.encode())
    except OSError as exc:  # a read-only cache costs a hash per load, nothing else
        log.info("token digest not cached under %s: %s", cache, exc)
    return digest


def _read_tokens(path: Path, dtype: np.dtype[Any]) -> TokenArray:
    if not path.exists():
        raise FileNotFoundError(f"token file not found: {path}")
    try:
        if path.suffix == ".npy":
            return np.load(path, mmap_mode="r")
        return np.memmap(path, dtype=dtype, mode="r")
    except ValueError as exc:  # numpy names neither the file nor the dtype it was read as
        raise ValueError(f"{path}: not a token file of {dtype} ({exc})") from None


def token_digest(train: TokenArray, val: TokenArray) -> str:
    """sha256 over the dtype and bytes of both splits."""
    h = hashlib.sha256()
    for array in (train, val):
        h.update(f"{array.dtype.str}:{array.size};".encode())
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


class BatchSampler:
    """Batches of `batch_size` windows (seq_len + 1 tokens) from a non-overlapping grid.

    Each epoch visits every window once, in the order `default_rng([seed, epoch]).permutation`,
    so `batch(step)` depends only on (seed, step).
    """

    def __init__(self, tokens: TokenArray, *, seq_len: int, batch_size: int, seed: int) -> None:
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed
        self.n_windows = (tokens.size - 1) // seq_len
        if self.n_windows < 1:
            raise ValueError(f"a split of {tokens.size} tokens is shorter than one window of {seq_len + 1}")
        self._offsets = np.arange(seq_len + 1)
        self._orders: dict[int, npt.NDArray[np.int64]] = {}

    def _order(self, epoch: int) -> npt.NDArray[np.int64]:
        if epoch not in self._orders:
            self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
            self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
        return self._orders[epoch]

    def epochs(self, steps: int) -> float:
        """Passes over the split after `steps` batches."""
        return steps * self.batch_size / self.n_windows

    def batch(self, step: int) -> npt.NDArray[np.int64]:
        """Windows of step `step` (0-based), shape (batch_size, seq_len + 1), int64."""
        positions = step * self.batch_size + np.arange(self.batch_size)
        epochs, slots = np.divmod(positions, self.n_windows)
        if epochs[0] == epochs[-1]:
            windows = self._order(int(epochs[0]))[slots]
        else:
            windows = np.array([self._order(int(e))[s] for e, s in zip(epochs, slots)])
        return self.tokens[windows[:, None] * self.seq_len + self._offsets].astype(np.int64)


def eval_windows(tokens: TokenArray, *, seq_len: int, eval_tokens: int) -> npt.NDArray[np.int64]:
    """Fixed held-out windows (n, seq_len + 1), spread evenly over the split, about
    `eval_tokens` predicted tokens in all (fewer, with a warning, when the split is smaller)."""
    available = (tokens.size - 1) // seq_len
    if available < 1:
        raise ValueError(f"validation split of {tokens.size} tokens is shorter than one window")
    wanted = max(1, -(-eval_tokens // seq_len))
    if wanted > available:
        log.warning("validation split holds %d windows; evaluating on those, not %d", available, wanted)
    starts = np.linspace(0, available - 1, min(wanted, available)).round().astype(np.int64) * seq_len
    return tokens[starts[:, None] + np.arange(seq_len + 1)].astype(np.int64)


def markov_corpus(spec: str, options: dict[str, str], val_fraction: float) -> Corpus:
    """The corpus of a "synthetic:markov" spec: chains concatenated, the last ones held out."""
    known = {"seed", "vocab", "tokens", "alpha", "chains"}
    if set(options) - known:
        raise ValueError(f"unknown markov options {sorted(set(options) - known)} in {spec!r}")
    seed = _option_int(options, "seed", 0, 0, MAX_SEED, spec)
    vocab = _option_int(options, "vocab", 16, 2, MARKOV_MAX_VOCAB, spec)
    tokens = _option_int(options, "tokens", 2**22, 2, MARKOV_MAX_TOKENS, spec)
    n_chains = _option_int(options, "chains", 1024, 1, tokens // 2, spec)
    rng = np.random.default_rng([seed, 0x6D61726B])  # a stream of its own, apart from run seeds
    try:
        alpha = float(options.get("alpha", 0.5))
    except ValueError:
        raise ValueError(f"data spec {spec!r}: alpha must be a number, got {options['alpha']!r}") from None
    if not 0 < alpha < float("inf"):
        raise ValueError(f"data spec {spec!r}: alpha must be a positive finite number, got {alpha}")
    source = MarkovSource.random(vocab, alpha=alpha, rng=rng)
    length = max(2, tokens // n_chains)
    chains = source.sample(n_chains, length, rng)
    n_val = max(1, round(val_fraction * n_chains))
    train, val = chains[:-n_val].reshape(-1), chains[-n_val:].reshape(-1)
    entropy = source.entropy_rate()
    # One transition in `length` crosses into a fresh chain (drawn from pi, not from the
    # current row), so the best achievable loss exceeds the entropy rate by O(1/length).
    facts = {"entropy_rate": entropy, "boundary_share": 1.0 / length, "documents": n_chains, "val_documents": n_val,
             "train_tokens": int(train.size), "val_tokens": int(val.size)}
    return Corpus(spec=spec, train=train, val=val, vocab_size=vocab, digest=token_digest(train, val), facts=facts)
