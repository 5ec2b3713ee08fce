"""Golden rows for the float formats the native runtime decodes (embeddings and heads): random block bytes with a
sane scale, decoded by the `gguf` package (llama.cpp's own Python reference), written as hex bytes and floats.

    .venv/bin/python test/golden/quants/make_golden.py
"""

import json
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(20261204)


def f16(x: float) -> bytes:
    return np.float16(x).tobytes()


def block(qtype: T) -> bytes:
    if qtype == T.Q8_0:
        return f16(rng.uniform(0.001, 0.02)) + rng.integers(-128, 128, 32, dtype=np.int8).tobytes()
    if qtype == T.Q4_0:
        return f16(rng.uniform(0.001, 0.2)) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    if qtype == T.Q6_K:
        body = rng.integers(0, 256, 128 + 64, dtype=np.uint8).tobytes() + rng.integers(-128, 128, 16, dtype=np.int8).tobytes()
        return body + f16(rng.uniform(0.0001, 0.002))
    if qtype == T.BF16:  # finite values only: keep the exponent off all-ones
        v = rng.normal(0, 1, 64).astype(np.float32).view(np.uint32) >> 16
        return v.astype(np.uint16).tobytes()
    raise ValueError(qtype)


def main() -> None:
    cases = []
    for qtype, cols, blocks in ((T.Q8_0, 64, 2), (T.Q4_0, 64, 2), (T.Q6_K, 512, 2), (T.BF16, 64, 1)):
        raw = b"".join(block(qtype) for _ in range(blocks))
        values = dequantize(np.frombuffer(raw, dtype=np.uint8).reshape(1, -1), qtype).reshape(-1)
        assert values.size == cols, (qtype, values.size)
        cases.append({"type": int(qtype), "name": qtype.name, "cols": cols, "hex": raw.hex(), "values": [float(x) for x in values]})
    (HERE / "rows.json").write_text(json.dumps({"cases": cases}) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
