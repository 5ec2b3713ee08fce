"""BitNet b1.58 layers (ReLU² FFN, sub-norms) and a byte-level BPE tokenizer trained on the data: both train, and
both are exported the way the native runtime and the server read them (bitnet-b1.58 keys and tensors, a gpt2
vocabulary with LLaMA 3's split rule)."""

from gguf import GGUFReader

from magnet_trainer import ckpt
from magnet_trainer.model import ModelConfig, preset


def kv(reader, key):
    return reader.fields[key].contents()


def test_llama_checkpoints_keep_their_bytes():
    # the new `arch` field stays out of a llama config, so round-0 checkpoints (and their hashes) do not change
    assert "arch" not in preset("tiny").to_dict()
    assert preset("tiny", arch="bitnet").to_dict()["arch"] == "bitnet"
    assert ModelConfig.from_dict(preset("tiny").to_dict()).arch == "llama"


def test_bitnet_trains_and_exports(trainer, workdir, text_file):
    base = workdir / "bitnet.safetensors"
    r = trainer("init", "--preset", "tiny", "--seed", "3", "--arch", "bitnet", "--out", base)
    assert r.rc == 0, r.err
    ck = ckpt.load(str(base))
    names = dict(ck.model.named_parameters())
    assert "layers.0.attn.sub_norm.weight" in names and "layers.0.ffn.sub_norm.weight" in names
    grad = workdir / "bitnet_grad.safetensors"
    r = trainer("train", "--base", base, "--steps", "3", "--data", text_file, "--state", workdir / "bitnet_local.safetensors",
                "--out", grad, "--batch", "2", "--seq", "32", "--warmup", "1", "--progress-every", "0")
    assert r.rc == 0, r.err
    out = workdir / "bitnet.gguf"
    assert trainer("export", "--ckpt", base, "--out", out).rc == 0
    g = GGUFReader(str(out))
    assert kv(g, "general.architecture") == "bitnet-b1.58"
    assert kv(g, "bitnet-b1.58.embedding_length") == 256
    tensors = {t.name for t in g.tensors}
    assert {"blk.0.attn_sub_norm.weight", "blk.0.ffn_sub_norm.weight", "blk.3.ffn_sub_norm.weight"} <= tensors


def test_bpe_tokenizer_trains_and_is_exported_as_a_gpt2_vocabulary(trainer, workdir, text_file):
    tok = workdir / "tokenizer.json"
    r = trainer("tokenizer", "--data", text_file, "--vocab", "320", "--out", tok)
    assert r.rc == 0, r.err
    assert r.result["vocab"] == 320
    base = workdir / "bpe.safetensors"
    assert trainer("init", "--preset", "tiny", "--seed", "1", "--tokenizer", tok, "--out", base).rc == 0
    assert ckpt.load(str(base)).cfg.vocab_size == 320
    # the data is tokenized with it, each document in <|begin_of_text|> ... <|end_of_text|>
    r = trainer("train", "--base", base, "--steps", "2", "--data", text_file, "--tokenizer", tok, "--state",
                workdir / "bpe_local.safetensors", "--out", workdir / "bpe_grad.safetensors", "--batch", "2", "--seq", "32",
                "--warmup", "1", "--progress-every", "0")
    assert r.rc == 0, r.err
    out = workdir / "bpe.gguf"
    r = trainer("export", "--ckpt", base, "--tokenizer", tok, "--out", out)
    assert r.rc == 0, r.err
    g = GGUFReader(str(out))
    assert kv(g, "tokenizer.ggml.model") == "gpt2"
    assert kv(g, "tokenizer.ggml.pre") == "llama-bpe"
    tokens = kv(g, "tokenizer.ggml.tokens")
    assert len(tokens) == 320 and tokens[kv(g, "tokenizer.ggml.bos_token_id")] == "<|begin_of_text|>"
    assert len(kv(g, "tokenizer.ggml.merges")) == 320 - 256 - 5  # every token past the bytes and specials is a merge
    # a tokenizer bigger than the model's vocabulary is refused, naming both sizes
    small = workdir / "small.safetensors"
    assert trainer("init", "--preset", "tiny", "--seed", "1", "--out", small).rc == 0
    r = trainer("export", "--ckpt", small, "--tokenizer", tok, "--out", workdir / "bad.gguf")
    assert r.rc != 0 and "320 tokens" in r.error["message"] and "258" in r.error["message"]
