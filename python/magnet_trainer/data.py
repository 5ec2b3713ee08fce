"""Data: tokens from a text file, a directory of text files, a pre-tokenized uint16 file, or a built-in source.

Layout, identical on every node so that all agree on the held-out set:
  the token stream is cut into CHUNK-token chunks; chunk i is held out when i % HOLDOUT_EVERY == HOLDOUT_EVERY // 2
  (the last chunk when the stream is too short to have one); the training chunks are shuffled with the shared
  data seed and node k of n takes every n-th of them.
Each node walks non-overlapping windows of its slice in an order that depends only on (seed, node, epoch), so
the cursor stored in LOCAL is the whole data/RNG state: a resumed node continues exactly where it stopped.
Held-out scoring reads non-overlapping windows of the held-out stream: the first W, or W drawn with a seed
(Dataset.heldout_windows), so a verifier can score windows the scored party could not predict.
"""

from __future__ import annotations

import os
import random
import sysconfig
from pathlib import Path

import numpy as np
import torch

from .model import BOS, EOS
from .protocol import TrainerError

CHUNK = 4096
HOLDOUT_EVERY = 20
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".py", ".c", ".h", ".js", ".ts", ".json", ".html", ".css", ".toml", ".cfg"}
BUILTIN = ("stdlib", "generated")
SPECIAL_BOS, SPECIAL_EOS = "<|begin_of_text|>", "<|end_of_text|>"


class Tokenizer:
    """Byte-level by default (ids 0..255 = bytes, 256 BOS, 257 EOS); a tokenizer.json through `tokenizers`."""

    def __init__(self, path: str | None = None):
        self.hf = None
        if path:
            try:
                from tokenizers import Tokenizer as HF  # optional dependency
            except ImportError as e:
                raise TrainerError("bad_args", "--tokenizer needs the 'tokenizers' package "
                                   "(pip install 'magnet_trainer[tokenizers]')") from e
            if not Path(path).is_file():
                raise TrainerError("file_missing", f"--tokenizer {path}: no such file")
            self.hf = HF.from_file(path)
            # Documents are wrapped in the tokenizer's own BOS/EOS when it has them (`magnet_trainer tokenizer` adds
            # LLaMA 3's); special-token texts inside a document stay text, as the server encodes users' text.
            self.hf.encode_special_tokens = True
            self.bos = self.hf.token_to_id(SPECIAL_BOS)
            self.eos = self.hf.token_to_id(SPECIAL_EOS)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size() if self.hf else 258

    def encode_doc(self, text: bytes) -> list[int]:
        if self.hf:
            ids = self.hf.encode(text.decode("utf-8", errors="replace"), add_special_tokens=False).ids
            return [*([self.bos] if self.bos is not None else []), *ids, *([self.eos] if self.eos is not None else [])]
        return [BOS, *text, EOS]


def generated_text(n_bytes: int, seed: int = 0) -> bytes:
    """Offline, learnable text: short sentences from a small grammar."""
    rnd = random.Random(seed)
    subj = ["the cat", "a dog", "the node", "my friend", "the leader", "a worker", "the model", "our peer"]
    verb = ["sees", "trains", "merges", "sends", "likes", "finds", "holds", "signs"]
    obj = ["the gradient", "a shard", "the checkpoint", "some data", "the round", "a block", "the key"]
    tail = [".", " today.", " again.", " quickly.", " at noon."]
    out, size = [], 0
    while size < n_bytes:
        s = f"{rnd.choice(subj)} {rnd.choice(verb)} {rnd.choice(obj)}{rnd.choice(tail)}\n"
        out.append(s)
        size += len(s)
    return "".join(out).encode()[:n_bytes]


def _text_files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("site-packages", "__pycache__"))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if p.suffix in TEXT_SUFFIXES and not f.startswith("."):
                found.append(p)
    return found


def _docs(path: str) -> list[bytes]:
    if path == "stdlib":  # the top level of Python's own library: ~5 MB of text on any machine with Python
        root = Path(sysconfig.get_paths()["stdlib"])
        return [p.read_bytes() for p in sorted(root.glob("*.py"))]
    if path == "generated":
        return [generated_text(1 << 20)]
    p = Path(path)
    if p.is_dir():
        return [f.read_bytes() for f in _text_files(p)]
    if p.is_file():
        return [p.read_bytes()]
    raise TrainerError("file_missing", f"--data {path}: no such file or directory")


def load_tokens(path: str, tokenizer: Tokenizer | None = None) -> np.ndarray:
    """The whole token stream as int64 (a .bin file is raw little-endian uint16 tokens, nanoGPT style)."""
    tok = tokenizer or Tokenizer()
    if path.endswith(".bin") and Path(path).is_file():
        raw = np.fromfile(path, dtype="<u2")
        return raw.astype(np.int64)
    ids: list[int] = []
    for d in _docs(path):
        if d:
            ids.extend(tok.encode_doc(d))
    return np.asarray(ids, dtype=np.int64)


class Dataset:
    def __init__(self, tokens: np.ndarray, seq: int, seed: int = 0, node: int = 0, nodes: int = 1,
                 vocab_size: int | None = None, what: str = "--data"):
        if not 0 <= node < nodes:
            raise TrainerError("bad_args", f"--node {node} is not in [0, --nodes {nodes})")
        if vocab_size is not None and tokens.size and int(tokens.max()) >= vocab_size:
            raise TrainerError("config_mismatch", f"{what}: token id {int(tokens.max())} >= model vocab {vocab_size}")
        self.seq, self.seed, self.node, self.nodes = seq, seed, node, nodes
        n_chunks = (len(tokens) + CHUNK - 1) // CHUNK
        if n_chunks < 2:
            raise TrainerError("data_empty", f"{what}: {len(tokens)} tokens; at least {CHUNK + 1} are needed "
                               f"(one {CHUNK}-token chunk is held out)")
        chunks = [tokens[i * CHUNK:(i + 1) * CHUNK] for i in range(n_chunks)]
        held = [i for i in range(n_chunks) if i % HOLDOUT_EVERY == HOLDOUT_EVERY // 2] or [n_chunks - 1]
        held_set = set(held)
        train_ids = [i for i in range(n_chunks) if i not in held_set]
        order = np.random.default_rng(seed).permutation(len(train_ids))
        mine = [train_ids[j] for j in order[node::nodes]]
        cat = lambda ids: np.concatenate([chunks[i] for i in ids]) if ids else np.zeros(0, np.int64)  # noqa: E731
        self.train = torch.from_numpy(cat(mine))
        self.heldout = torch.from_numpy(cat(held))
        self.n_windows = (len(self.train) - 1) // seq
        if self.n_windows < 1:
            raise TrainerError("data_empty", f"{what}: node {node} of {nodes} has {len(self.train)} training tokens, "
                               f"fewer than one window of {seq + 1} (total {len(tokens)} tokens)")
        self._perm_epoch, self._perm = -1, None

    def _window(self, k: int) -> torch.Tensor:
        epoch, i = divmod(k, self.n_windows)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, self.node, epoch]).permutation(self.n_windows)
            self._perm_epoch = epoch
        start = int(self._perm[i]) * self.seq
        return self.train[start:start + self.seq + 1]

    def batch(self, cursor: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows cursor..cursor+batch_size-1 -> (x, y) of shape (batch_size, seq)."""
        w = torch.stack([self._window(cursor + j) for j in range(batch_size)])
        return w[:, :-1], w[:, 1:]

    def heldout_windows(self, count: int, seed: int | None = None) -> list[int]:
        """Indices of `count` non-overlapping held-out windows (all of them when there are fewer): the first ones,
        or with a seed `count` distinct ones drawn uniformly with numpy's default_rng(seed), sorted."""
        total = (len(self.heldout) - 1) // self.seq
        if total < 1:
            raise TrainerError("data_empty", f"held-out split has {len(self.heldout)} tokens, "
                               f"fewer than one window of {self.seq + 1}")
        if seed is None or count >= total:
            return list(range(min(count, total)))
        return sorted(int(i) for i in np.random.default_rng(seed).permutation(total)[:count])

    def eval_batches(self, batch_size: int, max_windows: int, seed: int | None = None):
        """The held-out windows of heldout_windows(max_windows, seed), batch_size at a time -> (x, y)."""
        ids = self.heldout_windows(max_windows, seed)
        for i in range(0, len(ids), batch_size):
            w = torch.stack([self.heldout[j * self.seq:(j + 1) * self.seq + 1] for j in ids[i:i + batch_size]])
            yield w[:, :-1], w[:, 1:]
