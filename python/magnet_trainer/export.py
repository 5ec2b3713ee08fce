"""Ternary export to GGUF v3, llama.cpp's `llama` architecture (or `bitnet-b1.58` for arch bitnet), BitLinear weights
as TQ2_0 (ggml type 35); the byte vocabulary, or a byte-level BPE tokenizer.json as a `gpt2` vocabulary.

Non-ternary tensors (embeddings, norms, output head) are F32, so the runtime's reference arithmetic is exactly
the trainer's "ternary" mode. q/k rows are NOT permuted: the trainer already uses llama.cpp's adjacent-pair RoPE.
"""

from __future__ import annotations

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType

from . import ckpt, files
from .model import BOS, EOS, QK_K, BitNet, f16_scale, weight_ternary
from .protocol import TrainerError

# trainer parameter name suffix -> llama.cpp tensor name inside blk.N
BLOCK_NAMES = {
    "attn_norm.weight": "attn_norm.weight",
    "attn.wq.weight": "attn_q.weight",
    "attn.wk.weight": "attn_k.weight",
    "attn.wv.weight": "attn_v.weight",
    "attn.wo.weight": "attn_output.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "ffn.w_gate.weight": "ffn_gate.weight",
    "ffn.w_up.weight": "ffn_up.weight",
    "ffn.w_down.weight": "ffn_down.weight",
    "attn.sub_norm.weight": "attn_sub_norm.weight",  # bitnet
    "ffn.sub_norm.weight": "ffn_sub_norm.weight",  # bitnet
}
TOP_NAMES = {"tok_emb.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "output.weight": "output.weight"}


def gguf_name(name: str) -> str:
    if name in TOP_NAMES:
        return TOP_NAMES[name]
    _, idx, rest = name.split(".", 2)  # layers.N.rest
    return f"blk.{idx}.{BLOCK_NAMES[rest]}"


def pack_tq2_0(wq: np.ndarray, d16: np.float16) -> np.ndarray:
    """Ternary rows (out, in) in {-1,0,1}, one f16 scale -> TQ2_0 bytes (out, in/256*66).

    Per block of 256: qs[64] then d. Byte qs[32*h + m] holds, in bit pairs 0,2,4,6, the codes (q+1) of weights
    128*h + m, +32, +64, +96 (ggml's quantize_row_tq2_0_ref).
    """
    rows, cols = wq.shape
    if cols % QK_K:
        raise ValueError(f"row length {cols} is not a multiple of {QK_K}")
    codes = (wq.astype(np.int8) + 1).astype(np.uint8).reshape(rows * cols // QK_K, 2, 4, 32)
    qs = codes[:, :, 0] | (codes[:, :, 1] << 2) | (codes[:, :, 2] << 4) | (codes[:, :, 3] << 6)  # (nb, 2, 32)
    d = np.full((qs.shape[0], 1), d16, dtype=np.float16).view(np.uint8)  # (nb, 2) little-endian
    return np.concatenate([qs.reshape(-1, 64), d], axis=1).reshape(rows, cols // QK_K * 66)


def unpack_tq2_0(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_tq2_0: (ternary int8 (rows, cols), f16 scale per block (rows, cols/256))."""
    blocks = raw.reshape(-1, 66)
    qs = blocks[:, :64].reshape(-1, 2, 1, 32)
    codes = (qs >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 3
    q = codes.reshape(-1, QK_K).astype(np.int8) - 1
    d = blocks[:, 64:66].copy().view(np.float16).reshape(-1)
    return q.reshape(-1, cols), d.reshape(-1, cols // QK_K)


def ternary_tensors(model: BitNet) -> dict[str, tuple[np.ndarray, float]]:
    """BitLinear weight name -> (ternary int8 matrix, f16 scale as float)."""
    out = {}
    for name, p in model.named_parameters():
        if p.dim() == 2 and name.startswith("layers."):
            wq, scale = weight_ternary(p.detach())
            out[name] = (wq.to(torch.int8).numpy(), float(f16_scale(scale)))
    return out


def bpe_vocab(path: str, vocab_size: int) -> dict:
    """tokens, types, merges, pre and BOS/EOS of a byte-level BPE tokenizer.json, padded to the model's vocabulary."""
    import json

    from .tokenizer_train import gguf_pre

    try:
        doc = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        raise TrainerError("file_missing", f"--tokenizer {path}: {e}") from e
    model = doc.get("model") or {}
    if model.get("type") != "BPE":
        raise TrainerError("bad_args", f"--tokenizer {path}: a {model.get('type')} model; export writes byte-level BPE")
    vocab = dict(model["vocab"])
    specials = set()
    for a in doc.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
        if a.get("special"):
            specials.add(a["content"])
    if len(vocab) > vocab_size:
        raise TrainerError("config_mismatch", f"--tokenizer {path} has {len(vocab)} tokens, the model's vocabulary {vocab_size}")
    tokens = [f"<|pad_{i}|>" for i in range(vocab_size)]
    types = [TokenType.UNUSED] * vocab_size
    for t, i in vocab.items():
        tokens[i] = t
        types[i] = TokenType.CONTROL if t in specials else TokenType.NORMAL
    merges = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in model.get("merges", [])]
    return {"tokens": tokens, "types": types, "merges": merges, "pre": gguf_pre(doc),
            "bos": vocab.get("<|begin_of_text|>"), "eos": vocab.get("<|end_of_text|>")}


def write_gguf(path: str, ck: ckpt.Checkpoint, tokenizer: str | None = None) -> dict:
    model, cfg = ck.model.cpu(), ck.cfg
    tern = ternary_tensors(model)
    counts = {"ternary": 0, "f32": 0}
    bpe = bpe_vocab(tokenizer, cfg.vocab_size) if tokenizer else None
    arch = "bitnet-b1.58" if cfg.arch == "bitnet" else "llama"

    def writer(tmp: str) -> None:
        w = GGUFWriter(tmp, arch)
        w.add_name("magnet-bitnet")
        w.add_context_length(cfg.context)
        w.add_embedding_length(cfg.dim)
        w.add_block_count(cfg.n_layers)
        w.add_feed_forward_length(cfg.ffn_dim)
        w.add_head_count(cfg.n_heads)
        w.add_head_count_kv(cfg.n_kv_heads)
        w.add_rope_dimension_count(cfg.head_dim)
        w.add_rope_freq_base(cfg.rope_base)
        w.add_layer_norm_rms_eps(cfg.norm_eps)
        w.add_vocab_size(cfg.vocab_size)
        w.add_file_type(LlamaFileType.MOSTLY_TQ2_0)
        w.add_quantization_version(2)
        w.add_uint32("magnet.round", ck.round)
        w.add_string("magnet.checkpoint_sha256", ck.sha256 or "")
        w.add_string("magnet.weight_quant", "absmean-per-tensor")
        w.add_string("magnet.act_quant", "absmax-int8-per-token")
        if bpe:
            # byte-level BPE as llama.cpp's converter writes it: gpt2 model, the split rule's name, merges
            w.add_tokenizer_model("gpt2")
            w.add_tokenizer_pre(bpe["pre"])
            w.add_token_list(bpe["tokens"])
            w.add_token_types(bpe["types"])
            w.add_token_merges(bpe["merges"])
            if bpe["bos"] is not None:
                w.add_bos_token_id(bpe["bos"])
            w.add_eos_token_id(bpe["eos"] if bpe["eos"] is not None else 0)
            w.add_add_bos_token(bpe["bos"] is not None)
        else:
            # byte tokenizer: <0x00>..<0xFF> (BYTE), <s>, </s> (CONTROL), then padding tokens if the vocab is larger
            tokens = [f"<0x{i:02X}>" for i in range(256)] + ["<s>", "</s>"]
            types = [TokenType.BYTE] * 256 + [TokenType.CONTROL] * 2
            tokens += [f"<pad_{i}>" for i in range(cfg.vocab_size - 258)]
            types += [TokenType.UNUSED] * (cfg.vocab_size - 258)
            w.add_tokenizer_model("llama")
            w.add_token_list(tokens)
            w.add_token_scores([0.0] * len(tokens))
            w.add_token_types(types)
            w.add_bos_token_id(BOS)
            w.add_eos_token_id(EOS)
            w.add_add_bos_token(True)
            w.add_add_space_prefix(False)
        for name, p in model.state_dict().items():
            if name in tern:
                q, d = tern[name]
                w.add_tensor(gguf_name(name), pack_tq2_0(q, np.float16(d)), raw_dtype=GGMLQuantizationType.TQ2_0)
                counts["ternary"] += 1
            else:
                w.add_tensor(gguf_name(name), p.detach().float().numpy())
                counts["f32"] += 1
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    if cfg.vocab_size < 258:
        raise TrainerError("bad_args", "export supports the byte tokenizer vocabulary (>= 258) only")
    files.write_atomic(path, writer)
    return counts
