"""Regenerates the golden files shared with the native runtime and the daemon.

    .venv/bin/python test/golden/trainer/make_golden.py

Each value is computed by code independent of the trainer where possible (numpy float64 formulas, the gguf
package's own TQ2_0 quantizer); the trainer's tests then check the trainer against these files.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def bitlinear():
    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal((2, 256)), 3).astype(np.float32)
    w = np.round(rng.standard_normal((4, 256)) * 0.05, 4).astype(np.float32)
    scale = np.float32(max(np.mean(np.abs(w), dtype=np.float32), np.float32(1e-5)))
    wq = np.clip(np.round(w / scale), -1, 1).astype(np.int64)
    s = (np.float32(127) / np.maximum(np.abs(x).max(axis=1, keepdims=True), np.float32(1e-5))).astype(np.float32)
    xq = np.clip(np.round(x * s), -128, 127).astype(np.int64)
    acc = xq @ wq.T
    y = acc * float(np.float16(scale)) / s.astype(np.float64)
    return {"about": "y = (xq @ wq.T) * float(f16(scale)) / s; scale = max(mean|w|, 1e-5) (float32); "
                     "s = 127 / max(max|x_row|, 1e-5) (float32); rounding half to even",
            "x": x.tolist(), "w": w.tolist(), "scale": float(scale), "scale_f16": float(np.float16(scale)),
            "wq": wq.tolist(), "s": s[:, 0].tolist(), "xq": xq.tolist(), "acc": acc.tolist(), "y": y.tolist()}


def nesterov():
    theta0 = np.array([1.0, -2.0, 0.5, 0.0, 3.0], dtype=np.float64)
    rounds = [
        {"grads": [[0.1, -0.2, 0.3, 0.0, 0.05], [0.3, 0.0, -0.1, 0.2, -0.05]], "weights": [1.0, 3.0]},
        {"grads": [[-0.05, 0.1, 0.2, -0.1, 0.0], [0.15, 0.1, 0.0, 0.3, 0.25]], "weights": [2.0, 2.0]},
    ]
    lr, mu = 0.7, 0.9
    theta, buf, out = theta0.copy(), np.zeros_like(theta0), []
    for r in rounds:
        w = np.array(r["weights"]) / sum(r["weights"])
        d = sum(wi * np.array(g) for wi, g in zip(w, r["grads"]))
        buf = mu * buf + d
        theta = theta - lr * (d + mu * buf)
        out.append({"mean_delta": d.tolist(), "momentum": buf.tolist(), "theta": theta.tolist()})
    return {"about": "torch.optim.SGD(lr, momentum, nesterov=True): d = sum(w_i g_i)/sum(w); buf = mu*buf + d "
                     "(buf starts at 0); theta -= lr*(d + mu*buf). Float64 here; float32 implementations agree to 1e-6.",
            "lr": lr, "momentum": mu, "theta0": theta0.tolist(), "rounds": rounds, "expected": out}


def tq2_0():
    from gguf import GGMLQuantizationType, quants

    rows, cols = 2, 512
    q = np.array([[((i * 7 + r * 3) % 3) - 1 for i in range(cols)] for r in range(rows)], dtype=np.int8)
    d16 = np.float16(0.0123)
    packed = quants.quantize((q.astype(np.float32) * np.float32(d16)), GGMLQuantizationType.TQ2_0)
    return {"about": "ggml TQ2_0 (type 35): per 256 weights qs[64] then f16 d; byte 32*h+m holds codes q+1 of "
                     "weights 128h+m+32l in bits 2l (l=0..3). Bytes below come from the gguf package's quantizer.",
            "rows": rows, "cols": cols, "d_f16": float(d16), "ternary": q.tolist(), "packed_hex": packed.tobytes().hex()}


def tiny_logits():
    """The parity sample: ternary-inference logits of `init --preset tiny --seed 1` for [BOS, 'H', 'i']."""
    with tempfile.TemporaryDirectory() as t:
        ck, out = Path(t) / "tiny.safetensors", Path(t) / "logits.json"
        py = [sys.executable, "-m", "magnet_trainer"]
        env_path = str(HERE.parents[2] / "python")
        run = lambda *a: subprocess.run([*py, *a], check=True, capture_output=True, cwd=env_path)  # noqa: E731
        run("init", "--preset", "tiny", "--seed", "1", "--out", str(ck))
        run("logits", "--ckpt", str(ck), "--tokens", "256,72,105", "--out", str(out))
        doc = json.loads(out.read_text())
    doc["about"] = ("python -m magnet_trainer init --preset tiny --seed 1 --out CKPT; "
                    "logits --ckpt CKPT --tokens 256,72,105 (export CKPT to GGUF for the native side)")
    return doc


if __name__ == "__main__":
    for name, fn in [("bitlinear", bitlinear), ("nesterov", nesterov), ("tq2_0", tq2_0), ("tiny_seed1_logits", tiny_logits)]:
        (HERE / f"{name}.json").write_text(json.dumps(fn(), indent=1) + "\n")
        print("wrote", name)
