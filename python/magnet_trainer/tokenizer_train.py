"""`magnet_trainer tokenizer`: a byte-level BPE tokenizer trained on the training data with the `tokenizers`
package, written as tokenizer.json. Pre-tokenizer `llama3` (LLaMA 3's split rule, whole-word vocabulary hits skip
the merges) or `gpt2`; LLaMA 3's special tokens; every byte in the base alphabet, so no text is out of vocabulary.
`export --tokenizer` writes it into the GGUF, where the server reads it back (tokenizer.ggml.model gpt2)."""

from __future__ import annotations

from pathlib import Path

from . import files
from .data import SPECIAL_BOS, SPECIAL_EOS, _docs
from .protocol import TrainerError

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIALS = [SPECIAL_BOS, SPECIAL_EOS, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def gguf_pre(doc: dict) -> str:
    """tokenizer.ggml.pre of a tokenizer.json (the name llama.cpp and the server know its split rule by)."""
    pre = doc.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt2"
    if pre.get("type") == "Sequence":
        parts = pre.get("pretokenizers", [])
        split = next((x for x in parts if x.get("type") == "Split"), None)
        level = next((x for x in parts if x.get("type") == "ByteLevel"), None)
        if split and level and split.get("pattern", {}).get("Regex") == LLAMA3_SPLIT:
            return "llama-bpe"
    raise TrainerError("bad_args", "the tokenizer's pre-tokenizer is neither byte-level GPT-2 nor LLaMA 3's split "
                       "(train it with `magnet_trainer tokenizer`)")


def build(pre: str):
    try:
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    except ImportError as e:
        raise TrainerError("bad_args", "tokenizer training needs the 'tokenizers' package "
                           "(pip install 'magnet_trainer[tokenizers]')") from e
    tok = Tokenizer(models.BPE(ignore_merges=pre == "llama3"))
    if pre == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def run(args) -> dict:
    from tokenizers import pre_tokenizers, trainers

    if args.vocab < 256 + len(SPECIALS):
        raise TrainerError("bad_args", f"--vocab {args.vocab}: at least {256 + len(SPECIALS)} (the 256 bytes and the specials)")
    docs = _docs(args.data)
    tok = build(args.pre)
    trainer = trainers.BpeTrainer(vocab_size=args.vocab, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((d.decode("utf-8", errors="replace") for d in docs), trainer)
    files.write_text_atomic(args.out, tok.to_str())
    return {"out": str(args.out), "vocab": tok.get_vocab_size(), "pre": args.pre, "docs": len(docs),
            "bytes": Path(args.out).stat().st_size}
