"""Builds the tokenizer goldens: three small vocabularies trained by the reference libraries on this repository's
own Python sources, each written as a vocabulary-only GGUF the way llama.cpp's converter writes one, and the
reference encoding of every test text.

    .venv/bin/python test/golden/tokenizers/make_golden.py

Reference files kept beside the GGUFs (the Python suite re-encodes every case with them, so the goldens cannot
drift from the reference): bpe-gpt2.json and bpe-llama3.json (`tokenizers`), spm.model (`sentencepiece`).
"""

import json
import sys
from pathlib import Path

import gguf
import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VOCAB = 1024

LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

# Texts every tokenizer must encode exactly as its reference does: code, whitespace runs, digits, contractions,
# scripts and symbols the training data never saw (byte fallback), and the edges (empty, only spaces).
TEXTS = [
    "def add(a, b):\n    return a + b  # sum",
    "Hello world",
    " Hello  world ",
    "",
    " ",
    "   ",
    "\n",
    "\n\n\tx\r\n",
    "I'm sure they've DON'T we'LL it's",
    "1234567890 3.14159 -42 1e-5",
    "naïve café résumé façade",
    "日本語のテキスト",
    "emoji 🚀🔥 and 👩‍💻",
    "Ελληνικά и русский текст",
    "mixed\u00a0nbsp and zero\u200bwidth",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(f'{i} is even')",
    "    indented    with     many      spaces",
    "tokens<|eot_id|>look<|im_end|>special but are text",
    "x" * 300,
    "The quick brown fox jumps over the lazy dog. " * 4,
    "import torch\nfrom torch import nn\n\nclass BitLinear(nn.Module):\n    pass\n",
    "a\u0301 e\u0300 (combining marks) ﬁ ligature",
    "{\"json\": [1, 2, {\"k\": null}], \"b\": true}",
    "tabs\tand\ttabs\t\t\tend",
    "CamelCaseWordsAndsnake_case_words",
]


def corpus() -> list[str]:
    lines = []
    for p in sorted((ROOT / "python" / "magnet_trainer").glob("*.py")):
        lines += p.read_text(encoding="utf-8").splitlines()
    return [x for x in lines if x.strip()]


def hf_bpe(pre, ignore_merges: bool, specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(corpus(), trainer)
    return tok


def write_bpe_gguf(tok: Tokenizer, path: Path, pre: str, bos: str, eos: str, template: str | None) -> None:
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in model["merges"]]
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = [""] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    specials = {a.content for a in tok.get_added_tokens_decoder().values() if a.special}
    types = [gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab[bos])
    w.add_eos_token_id(vocab[eos])
    w.add_add_bos_token(False)
    if template:
        w.add_chat_template(template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_spm_gguf(sp: spm.SentencePieceProcessor, path: Path) -> None:
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_unused(i):
            types.append(gguf.TokenType.UNUSED)
        elif sp.is_byte(i):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def reference_encoders() -> dict:
    """name -> encode(text) with the committed reference files (no BOS, special-token texts left as text)."""
    out = {}
    for name in ("bpe-gpt2", "bpe-llama3"):
        tok = Tokenizer.from_file(str(HERE / f"{name}.json"))
        tok.encode_special_tokens = True  # special-token texts in the input stay text, as the server encodes users' text
        out[name] = lambda s, tok=tok: tok.encode(s, add_special_tokens=False).ids
    sp = spm.SentencePieceProcessor(model_file=str(HERE / "spm.model"))
    out["spm"] = lambda s, sp=sp: sp.encode(s)
    return out


def main() -> None:
    gpt2 = hf_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), False, ["<|endoftext|>"])
    gpt2.save(str(HERE / "bpe-gpt2.json"))
    write_bpe_gguf(gpt2, HERE / "bpe-gpt2.gguf", "gpt2", "<|endoftext|>", "<|endoftext|>", None)

    llama3_pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    llama3 = hf_bpe(llama3_pre, True, LLAMA3_SPECIALS)
    llama3.save(str(HERE / "bpe-llama3.json"))
    template = "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    write_bpe_gguf(llama3, HERE / "bpe-llama3.gguf", "llama-bpe", "<|begin_of_text|>", "<|end_of_text|>", template)

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_prefix=str(HERE / "spm"),
        vocab_size=VOCAB,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        character_coverage=0.9995,
        minloglevel=2,
    )
    (HERE / "spm.vocab").unlink(missing_ok=True)
    write_spm_gguf(spm.SentencePieceProcessor(model_file=str(HERE / "spm.model")), HERE / "spm.gguf")

    enc = reference_encoders()
    cases = {"texts": TEXTS, "ids": {name: [f(t) for t in TEXTS] for name, f in enc.items()}}
    (HERE / "cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(f"wrote {len(TEXTS)} cases for {', '.join(enc)}", file=sys.stderr)


if __name__ == "__main__":
    main()
