"""The tokenizer goldens the server is tested against (test/golden/tokenizers) still hold for the reference
libraries: every case re-encoded with the committed reference files gives the committed ids."""

import json
from pathlib import Path

import sentencepiece as spm
from tokenizers import Tokenizer

GOLDEN = Path(__file__).resolve().parents[2] / "test" / "golden" / "tokenizers"


def test_goldens_are_the_reference_encodings():
    cases = json.loads((GOLDEN / "cases.json").read_text(encoding="utf-8"))
    encoders = {}
    for name in ("bpe-gpt2", "bpe-llama3"):
        tok = Tokenizer.from_file(str(GOLDEN / f"{name}.json"))
        tok.encode_special_tokens = True
        encoders[name] = lambda s, tok=tok: tok.encode(s, add_special_tokens=False).ids
    sp = spm.SentencePieceProcessor(model_file=str(GOLDEN / "spm.model"))
    encoders["spm"] = sp.encode
    assert set(cases["ids"]) == set(encoders)
    for name, enc in encoders.items():
        for text, ids in zip(cases["texts"], cases["ids"][name], strict=True):
            assert enc(text) == ids, f"{name}: {text!r}"
    # The example: 17 tokens by the byte-level BPE vocabulary, where the byte tokenizer gave 39.
    assert len(cases["ids"]["bpe-gpt2"][0]) == 17
