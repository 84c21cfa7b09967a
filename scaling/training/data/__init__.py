"""Training corpora as token arrays: text and pre-tokenised files, the synthetic Markov source,
deterministic train/val splits and seeded batch sampling."""

from scaling.training.data.corpus import BatchSampler, Corpus, eval_windows, load_corpus, token_digest

__all__ = ["BatchSampler", "Corpus", "eval_windows", "load_corpus", "token_digest"]
