"""A word n-gram language model with interpolated Kneser-Ney smoothing, written here.

Trained by counting on normalised sentences (text only). Orders 1-3. The highest order uses
raw counts, lower orders continuation counts (how many distinct words precede), every order is
interpolated with the next lower one with an absolute discount ``D = n1 / (n1 + 2 n2)`` estimated
per order from the count-of-counts, and the unigram level is interpolated with a uniform
distribution over an *open* vocabulary (``open_size`` words the model never saw in text: the
pronunciation lexicon's other words), so an unseen word gets a small but proper probability.

The model is plain counts, so it saves as integer tensors (:meth:`to_tensors` /
:meth:`from_tensors`) inside the regenerator's ``model.safetensors``.

    lm = WordLM.fit(["the cat sat", "the dog sat"], order=3)
    lm.logprob("sat", ("the", "cat"))  # natural log P(sat | the cat)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable

import torch

BOS, EOS = "<s>", "</s>"
FORMAT = 1  # version of the tensor layout below


def _discount(counts: Iterable[int]) -> float:
    """Absolute discount from the count-of-counts (Ney et al.): n1 / (n1 + 2 n2), clipped to [0.1, 0.9]."""
    cc = Counter(c for c in counts if c <= 2)
    n1, n2 = cc.get(1, 0), cc.get(2, 0)
    if n1 + 2 * n2 == 0:
        return 0.5
    return min(0.9, max(0.1, n1 / (n1 + 2 * n2)))


class WordLM:
    """Interpolated Kneser-Ney word n-gram model over normalised words (``<s>`` / ``</s>`` added)."""

    def __init__(self, vocab: list[str], ngrams: dict[int, Counter], order: int, open_size: int = 0):
        if not 1 <= order <= 3:
            raise ValueError(f"the word LM supports orders 1-3, got {order}")
        self.order, self.vocab, self.open_size = order, vocab, max(0, int(open_size))
        self.index = {w: i for i, w in enumerate(vocab)}
        self.ngrams = ngrams  # order -> Counter of word-id tuples (raw counts)
        self._prepare()

    # -- training --------------------------------------------------------------------------

    @classmethod
    def fit(cls, sentences: Iterable[str], *, order: int = 3, open_size: int = 0) -> "WordLM":
        vocab = [BOS, EOS]
        index = {BOS: 0, EOS: 1}
        ngrams: dict[int, Counter] = {n: Counter() for n in range(1, order + 1)}
        for sentence in sentences:
            ids = [0]
            for w in sentence.split():
                if w not in index:
                    index[w] = len(vocab)
                    vocab.append(w)
                ids.append(index[w])
            ids.append(1)
            for n in range(1, order + 1):
                for i in range(max(1, n - 1), len(ids)):  # never predict <s>; the first word's history is "<s>"
                    ngrams[n][tuple(ids[i - n + 1 : i + 1])] += 1
        return cls(vocab, ngrams, order, open_size)

    def _prepare(self) -> None:
        """Kneser-Ney statistics from the raw counts."""
        top = self.order
        # per order: the counts it uses (raw at the top, continuation below)
        self.used: dict[int, Counter] = {top: self.ngrams[top]}
        for n in range(top - 1, 0, -1):
            cont: Counter = Counter()
            for gram in self.ngrams[n + 1]:
                cont[gram[1:]] += 1  # distinct left contexts of gram[1:]
            for gram, c in self.ngrams[n].items():
                if gram[0] == 0:  # "<s> w" has no left context to count: raw counts (as KenLM does)
                    cont[gram] = c
            self.used[n] = cont
        self.discount = {n: _discount(c.values()) for n, c in self.used.items()}
        # per context (n >= 2): total count and number of distinct followers
        self.ctx_total: dict[int, dict] = {}
        self.ctx_types: dict[int, dict] = {}
        for n in range(2, top + 1):
            total: dict = defaultdict(int)
            types: dict = defaultdict(int)
            for gram, c in self.used[n].items():
                total[gram[:-1]] += c
                types[gram[:-1]] += 1
            self.ctx_total[n], self.ctx_types[n] = dict(total), dict(types)
        uni = self.used[1]
        self.uni_total = max(1, sum(uni.values()))
        self.uni_types = len(uni)
        self.n_all = max(1, len(self.vocab) - 1 + self.open_size)  # every word but <s>, plus the open vocabulary
        self._cache: dict = {}

    # -- probabilities ---------------------------------------------------------------------------

    def _p(self, n: int, gram: tuple[int, ...]) -> float:
        """Interpolated probability of gram[-1] given gram[:-1] at order n (ids; -1 = unseen word)."""
        if n == 1:
            if not self.used[1]:  # an empty model (no text yet): uniform
                return 1.0 / self.n_all
            d = self.discount[1]
            c = self.used[1].get(gram, 0) if gram[-1] >= 0 else 0
            return max(c - d, 0.0) / self.uni_total + d * self.uni_types / self.uni_total / self.n_all
        lower = self._p(n - 1, gram[1:])
        ctx = gram[:-1]
        total = self.ctx_total[n].get(ctx, 0)
        if total == 0 or min(ctx) < 0:
            return lower
        d = self.discount[n]
        c = self.used[n].get(gram, 0) if gram[-1] >= 0 else 0
        return max(c - d, 0.0) / total + d * self.ctx_types[n][ctx] / total * lower

    def word_id(self, word: str) -> int:
        """The word's id, -1 for a word the text never showed (an open-vocabulary word)."""
        return self.index.get(word, -1)

    def logprob(self, word: str, history: tuple[str, ...] = ()) -> float:
        """Natural-log P(word | history); history holds the preceding words (``<s>`` at the start)."""
        return self.logprob_ids(self.word_id(word), tuple(self.word_id(h) for h in history))

    def logprob_ids(self, wid: int, history: tuple[int, ...]) -> float:
        hist = history[-(self.order - 1):] if self.order > 1 else ()
        key = hist + (wid,)
        hit = self._cache.get(key)
        if hit is None:
            hit = math.log(self._p(len(key), key))
            if len(self._cache) < 2_000_000:
                self._cache[key] = hit
        return hit

    def sentence_logprob(self, sentence: str) -> float:
        ids = [0] + [self.word_id(w) for w in sentence.split()] + [1]
        return sum(self.logprob_ids(ids[i], tuple(ids[max(0, i - self.order + 1) : i])) for i in range(1, len(ids)))

    def perplexity(self, sentences: list[str]) -> float:
        total, n = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            n += len(s.split()) + 1
        return math.exp(-total / max(1, n))

    # -- tensors -------------------------------------------------------------------------------

    def to_tensors(self, prefix: str = "lm_") -> dict[str, torch.Tensor]:
        """Integer tensors holding the whole model (vocabulary as UTF-8 bytes, raw n-gram counts)."""
        out = {
            f"{prefix}format": torch.tensor([FORMAT, self.order, self.open_size], dtype=torch.int64),
            f"{prefix}vocab": torch.frombuffer(bytearray("\n".join(self.vocab).encode("utf-8")), dtype=torch.uint8).clone(),
        }
        for n in range(1, self.order + 1):
            rows = [gram + (c,) for gram, c in sorted(self.ngrams[n].items())]
            out[f"{prefix}count{n}"] = torch.tensor(rows, dtype=torch.int64).reshape(-1, n + 1)  # (N_n, n + 1)
        for n in range(self.order + 1, 4):
            out[f"{prefix}count{n}"] = torch.zeros(0, n + 1, dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str = "lm_") -> "WordLM":
        fmt, order, open_size = (int(v) for v in tensors[f"{prefix}format"].tolist())
        if fmt != FORMAT:
            raise ValueError(f"word LM tensors of format {fmt}, this regen_asr reads format {FORMAT}")
        vocab = tensors[f"{prefix}vocab"].numpy().tobytes().decode("utf-8").split("\n")
        ngrams = {}
        for n in range(1, order + 1):
            rows = tensors[f"{prefix}count{n}"]
            ngrams[n] = Counter(dict(zip(map(tuple, rows[:, :-1].tolist()), rows[:, -1].tolist())))
        return cls(vocab, ngrams, order, open_size)
