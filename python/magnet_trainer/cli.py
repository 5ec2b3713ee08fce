"""python -m magnet_trainer {init,tokenizer,train,merge,eval,export,logits,experiment,trial,trial-score,research-plot}:
arguments in, JSON lines out.

stdout carries only JSON lines (start, progress, result, error); logs go to stderr; exit 0 only on success.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from . import defaults
from .protocol import TrainerError, emit, log


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit 2; we answer in the protocol instead
        raise TrainerError("bad_args", f"{self.prog}: {message}")


def _density(s):
    v = float(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{s} is not in (0, 1]")
    return v


def _positive(kind):
    def parse(s):
        v = kind(s)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{s} is not > 0")
        return v
    return parse


def _non_negative(s):
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{s} is not >= 0")
    return v


def _seed64(s):
    v = int(s)
    if not 0 <= v < 1 << 64:
        raise argparse.ArgumentTypeError(f"{s} is not an integer in [0, 2**64)")
    return v


def _device_args(p):
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--threads", type=_positive(int), default=None, help="CPU threads for torch (default: torch's)")


def _data_args(p, required=True):
    p.add_argument("--data", required=required,
                   help="text file, directory of text files, uint16 token file (*.bin), or 'stdlib' / 'generated'")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (needs the tokenizers package); default bytes")


def _score_args(p):
    p.add_argument("--eval-windows", type=_positive(int), default=16, help="eval set: the first W held-out windows")
    p.add_argument("--test-windows", type=_positive(int), default=16, help="test set: the last M held-out windows")
    p.add_argument("--eval-batch", type=_positive(int), default=8, help="windows per scoring batch")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m magnet_trainer", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("init", help="write the round-0 checkpoint")
    p.add_argument("--preset", required=True, help="tiny, small or genkidama")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tie-embeddings", action="store_true", help="the output head reuses token_embd")
    p.add_argument("--arch", choices=["llama", "bitnet"], default="llama",
                   help="llama (SiLU FFN) or bitnet (BitNet b1.58: ReLU² FFN and sub-norms)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json: the vocabulary size follows it (default bytes)")
    p.add_argument("--shape", default="",
                   help="the preset's shape changed key by key: dim=512,n_layers=2 (dim, n_layers, n_heads, n_kv_heads, "
                        "ffn_dim, context)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer (tokenizer.json) on --data")
    p.add_argument("--data", required=True, help="text file, directory of text files, or 'stdlib' / 'generated'")
    p.add_argument("--vocab", type=_positive(int), default=4096, help="vocabulary size, special tokens included")
    p.add_argument("--pre", choices=["llama3", "gpt2"], default="llama3", help="pre-tokenizer (how text splits into words)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("train", help="H inner AdamW steps from --base; writes delta = base - local")
    p.add_argument("--base", required=True, help="checkpoint to start from")
    p.add_argument("--steps", type=_positive(int), required=True, help="inner steps H")
    _data_args(p)
    p.add_argument("--state", required=True, help="LOCAL state file (created when missing)")
    p.add_argument("--out", default=None, help="pseudo-gradient file to write (not with --ahead)")
    p.add_argument("--keep-weights", action="store_true",
                   help="delayed schedule: also keep the end weights in --state, where --ahead starts from")
    p.add_argument("--ahead", action="store_true",
                   help="delayed schedule: train from the kept weights, not the base; the progress waits in --state")
    p.add_argument("--stop-file", default=None,
                   help="--ahead: end the stretch before the next step once this file exists (the merge it runs "
                        "ahead of has landed)")
    p.add_argument("--take-ahead", action="store_true",
                   help="delayed schedule: the progress made --ahead is the first steps of the gradient against "
                        "--base; the rest of --steps run from the weights moved onto --base")
    p.add_argument("--ahead-correction", choices=["eager", "rebase"], default="eager",
                   help="--take-ahead: move the weights to base - progress (rebase) or to the base after the outer "
                        "step the progress alone would make (eager)")
    p.add_argument("--outer-lr", type=float, default=defaults.OUTER_LR,
                   help="--take-ahead with eager: the network's outer step, which the weights anticipate")
    p.add_argument("--momentum", type=float, default=defaults.MOMENTUM)
    p.add_argument("--node", type=int, default=0, help="this node's index in [0, --nodes)")
    p.add_argument("--nodes", type=_positive(int), default=1, help="number of data slices")
    p.add_argument("--node-id", default=None, help="opaque id recorded in the gradient's metadata")
    p.add_argument("--seed", type=int, default=0, help="data order seed (shared by all nodes)")
    # The defaults shared with the daemon come from config/trainer-defaults.json (defaults.py).
    p.add_argument("--batch", type=_positive(int), default=defaults.BATCH, help="sequences per step")
    p.add_argument("--seq", type=_positive(int), default=defaults.SEQ, help="tokens per sequence (<= context)")
    p.add_argument("--lr", type=float, default=defaults.INNER_LR)
    p.add_argument("--warmup", type=int, default=defaults.WARMUP, help="linear warmup steps (counted over all rounds)")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant", help="after warmup")
    p.add_argument("--total-steps", type=int, default=0, help="inner steps over the whole run (cosine)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--grad-clip", type=float, default=1.0, help="global norm clip, 0 = off")
    p.add_argument("--compression", choices=["none", "fp16", "int8", "topk2"], default="none")
    p.add_argument("--int8-block", type=_positive(int), default=256, help="values per int8 scale")
    p.add_argument("--topk-density", type=_density, default=1 / 64, help="topk2: share of each chunk's values sent")
    p.add_argument("--no-error-feedback", action="store_true", help="drop the compression residual")
    p.add_argument("--progress-every", type=int, default=10, help="progress line every N steps, 0 = none")
    _device_args(p)
    p.add_argument("--devices", type=_positive(int), default=1,
                   help="data-parallel processes under torchrun: one per GPU (NCCL), or gloo on CPU; each takes "
                        "batch/devices sequences of every step (the same training as one process)")
    p.add_argument("--dist-timeout", type=_positive(float), default=600.0,
                   help="with --devices > 1: seconds a rank waits for the others in a collective before failing")

    p = sub.add_parser("merge", help="outer Nesterov step from pseudo-gradients")
    p.add_argument("--base", required=True)
    p.add_argument("--grad", action="append", default=[], help="pseudo-gradient file (repeat)")
    p.add_argument("--weight", action="append", type=float, default=[], help="weight of the grad at the same position")
    p.add_argument("--outer-lr", type=float, default=defaults.OUTER_LR)
    p.add_argument("--momentum", type=float, default=defaults.MOMENTUM)
    p.add_argument("--outlier-ratio", type=float, default=10.0,
                   help="reject a grad whose norm exceeds this times the median of the others (0 = off)")
    p.add_argument("--max-norm", type=float, default=0.0, help="reject a grad whose norm exceeds this (0 = off)")
    p.add_argument("--steps-per-grad", type=_non_negative, default=None,
                   help="inner steps each grad stands for: meta steps = base + S (not read from the grads)")
    p.add_argument("--tokens-per-grad", type=_non_negative, default=None,
                   help="tokens each grad stands for: meta tokens = base + T * grads (not read from the grads)")
    p.add_argument("--out", required=True)
    p.add_argument("--eval-data", default=None,
                   help="also score the base and the merged model (qat) on held-out windows of this (as eval's --data)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json for --eval-data; default bytes")
    p.add_argument("--eval-seq", type=_positive(int), default=defaults.SEQ, help="tokens per held-out window")
    p.add_argument("--eval-batch", type=_positive(int), default=defaults.BATCH)
    p.add_argument("--eval-windows", type=_positive(int), default=4, help="held-out windows to score")
    p.add_argument("--eval-seed", type=_seed64, default=None,
                   help="draw the windows with this seed (default: the first ones)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply the weighted mean by this before the step (a gradient at its share of a merge)")
    p.add_argument("--eval-baseline", action="store_true",
                   help="with --eval-data, also loss_baseline: the model after a step with a zero gradient (momentum only)")
    _device_args(p)

    p = sub.add_parser("eval", help="held-out loss and perplexity")
    p.add_argument("--ckpt", required=True)
    _data_args(p)
    p.add_argument("--seq", type=_positive(int), default=defaults.SEQ)
    p.add_argument("--batch", type=_positive(int), default=defaults.BATCH)
    p.add_argument("--max-windows", type=_positive(int), default=64, help="held-out windows to score")
    p.add_argument("--seed", type=_seed64, default=None, help="draw the windows with this seed (default: the first)")
    p.add_argument("--modes", default="qat,ternary,float", help="comma list of qat, ternary, float")
    _device_args(p)

    p = sub.add_parser("export", help="ternary GGUF (llama or bitnet-b1.58 arch, TQ2_0)")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--tokenizer", default=None, help="tokenizer.json the model was trained with (default bytes)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("logits", help="ternary-inference logits of a token sequence (golden parity file)")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--tokens", required=True, help="comma-separated token ids, e.g. 256,72,105")
    p.add_argument("--out", required=True)

    p = sub.add_parser("trial", help="autoresearch: train one hyperparameter config from scratch and score it")
    p.add_argument("--config", required=True,
                   help="JSON object (inline when it starts with '{') or a JSON file: model and optimizer keys, all "
                        "optional (research.py)")
    _data_args(p)
    p.add_argument("--steps", type=_positive(int), required=True, help="optimizer steps")
    p.add_argument("--seed", type=_seed64, required=True, help="model init and data order seed")
    p.add_argument("--out", required=True, help="checkpoint of the trained model")
    p.add_argument("--eval-every", type=_positive(int), default=None, help="eval loss every K steps (max(1, steps/5))")
    _score_args(p)
    _device_args(p)

    p = sub.add_parser("trial-score", help="autoresearch: re-score a trial checkpoint as `trial` scored it")
    p.add_argument("--ckpt", required=True)
    _data_args(p)
    _score_args(p)
    p.add_argument("--threads", type=_positive(int), default=None, help="CPU threads for torch (default: torch's)")

    p = sub.add_parser("research-plot", help="autoresearch: best validation loss per phase as a PNG")
    p.add_argument("--report", required=True, help="the search's report JSON {name, phases, base_eval_loss}")
    p.add_argument("--out", required=True)

    sub.add_parser("worker", help="run commands read as JSON lines {id, args} from stdin, one at a time, until EOF")

    p = sub.add_parser("experiment", help="simulated experiments")
    p.add_argument("name", choices=["diloco"])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--workers", type=_positive(int), default=4)
    # defaults: what measured best on tiny (python/README.md, docs/diloco-quality.json); H=50 was 6-8% behind sync
    p.add_argument("--H", type=_positive(int), default=25, help="inner steps per round")
    p.add_argument("--rounds", type=_positive(int), default=32)
    p.add_argument("--warm-start", type=_non_negative, default=100,
                   help="steps of synchronous training (batch workers x batch) every method starts from")
    p.add_argument("--methods", default="diloco,delayed,sync,single", help="comma list of diloco, delayed, sync, single")
    p.add_argument("--batch", type=_positive(int), default=4)
    p.add_argument("--seq", type=_positive(int), default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="cosine",
                   help="inner learning rate after warmup, over warm start + H x rounds steps")
    p.add_argument("--outer-lr", type=float, default=0.7)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--compression", choices=["none", "fp16", "int8", "topk2"], default="int8",
                   help="how DiLoCo workers encode their pseudo-gradients (with error feedback)")
    p.add_argument("--topk-density", type=_density, default=1 / 64)
    p.add_argument("--overlap", type=_non_negative, default=None,
                   help="delayed: the first K of each round's H steps, trained from a worker's own weights while the "
                        "previous round is merged (default H/5, about the share of a round spent between gradients "
                        "on the 3-node testnet; K >= H: the whole round, one round behind)")
    p.add_argument("--delayed-correction", choices=["eager", "rebase"], default="eager",
                   help="delayed: a worker's weights when a merge lands: that merge after the outer step of its own "
                        "progress (eager) or the merge plus its raw progress (rebase)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-windows", type=_positive(int), default=64)
    p.add_argument("--data", default="stdlib")
    p.add_argument("--out", default=None, help="also write the result JSON here")
    p.add_argument("--plot", default=None, help="also draw the held-out loss curves as a PNG here (needs matplotlib)")
    _device_args(p)
    return ap


_TOKEN_CACHE: dict[tuple, object] = {}


def _tokens(data: str, tokenizer: str | None):
    """The token stream of --data; a worker keeps the last few (keyed by path, size and mtime) between commands."""
    from .data import Tokenizer, load_tokens

    key = (data, tokenizer, *_stamp(data), *_stamp(tokenizer))
    toks = _TOKEN_CACHE.get(key)
    if toks is None:
        toks = load_tokens(data, Tokenizer(tokenizer))
        if len(_TOKEN_CACHE) >= 4:
            _TOKEN_CACHE.pop(next(iter(_TOKEN_CACHE)))
        _TOKEN_CACHE[key] = toks
        log(f"data {data}: {len(toks)} tokens")
    return toks


def _stamp(path: str | None) -> tuple:
    import os

    try:
        st = os.stat(path) if path else None
    except OSError:
        return (None, None)
    return (st.st_size, st.st_mtime_ns) if st else (None, None)


def dispatch(args) -> dict:
    c = args.command
    if c == "init":
        from . import ckpt

        vocab = None
        if args.tokenizer:
            from .data import Tokenizer

            vocab = Tokenizer(args.tokenizer).vocab_size
        from .model import parse_shape

        try:
            shape = parse_shape(args.shape)
        except ValueError as e:
            raise TrainerError("bad_args", f"--shape: {e}") from e
        ck = ckpt.init(args.preset, args.seed, args.tie_embeddings, args.arch, vocab, shape)
        emit("start", command="init", preset=args.preset, seed=args.seed)
        sha = ckpt.save(args.out, ck)
        return {"out": args.out, "sha256": sha, "bytes": Path(args.out).stat().st_size, "preset": args.preset,
                "params": ck.model.num_params(), "round": 0, "config": ck.cfg.to_dict()}
    if c == "train":
        from . import train

        if not 0 <= args.node < args.nodes:
            raise TrainerError("bad_args", f"--node {args.node} is not in [0, --nodes {args.nodes})")
        if args.devices > 1:
            from . import parallel

            world = parallel.rank_world()
            if world is None:
                return parallel.launch(args)  # this process starts the ranks and relays rank 0
            if world.size != args.devices:
                raise TrainerError("internal", f"rank {world.rank} of {world.size} runs with --devices {args.devices}")
        return train.run(args, _tokens(args.data, args.tokenizer))
    if c == "merge":
        from . import merge
        from .train import pick_device

        pick_device("cpu", args.threads)  # the merge is CPU float32 so every node can reproduce it bit for bit
        return merge.run(args, _tokens(args.eval_data, args.tokenizer) if args.eval_data else None)
    if c == "eval":
        from . import evaluate
        from .train import pick_device

        pick_device("cpu", args.threads)
        args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        emit("start", command="eval", ckpt=args.ckpt)
        return evaluate.run_eval(args, _tokens(args.data, args.tokenizer))
    if c == "export":
        from . import ckpt, export

        ck = ckpt.load(args.ckpt, "--ckpt")
        emit("start", command="export", ckpt=args.ckpt, sha256=ck.sha256)
        counts = export.write_gguf(args.out, ck, args.tokenizer)
        return {"out": args.out, "bytes": Path(args.out).stat().st_size, "checkpoint_sha256": ck.sha256,
                "round": ck.round, "tensors_tq2_0": counts["ternary"], "tensors_f32": counts["f32"]}
    if c == "tokenizer":
        from . import tokenizer_train

        emit("start", command="tokenizer", data=args.data)
        return tokenizer_train.run(args)
    if c == "logits":
        from . import evaluate

        emit("start", command="logits", ckpt=args.ckpt)
        return evaluate.run_logits(args)
    if c == "experiment":
        from . import experiment

        emit("start", command="experiment", name=args.name)
        result = experiment.run(args)
        if args.out:
            import json

            from .files import write_text_atomic

            write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
        return result
    if c == "trial":
        from . import research

        vocab = None
        if args.tokenizer:
            from .data import Tokenizer

            vocab = Tokenizer(args.tokenizer).vocab_size
        cfg_dict, cfg = research.resolve(research.parse_config(args.config), vocab)  # before the data loads
        return research.run_trial(args, cfg_dict, cfg, _tokens(args.data, args.tokenizer))
    if c == "trial-score":
        from . import research
        from .train import pick_device

        pick_device("cpu", args.threads)
        emit("start", command="trial-score", ckpt=args.ckpt)
        return research.run_trial_score(args, _tokens(args.data, args.tokenizer))
    if c == "research-plot":
        from . import research

        emit("start", command="research-plot", report=args.report)
        return research.run_plot(args)
    raise TrainerError("bad_args", f"unknown command {c}")


def worker() -> int:
    """A long-lived trainer: one command per line of stdin, {"id": N, "args": ["train", ...]}, run as `main(args)` would
    run it, every event it emits carrying "id"; the result or error event ends each command. The interpreter, torch
    and the token streams load once instead of once per command (seconds each)."""
    from . import protocol

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            rid, argv = int(req["id"]), [str(a) for a in req["args"]]
        except (ValueError, KeyError, TypeError) as e:
            emit("error", code="bad_args", message=f"a worker request is JSON {{id, args}}: {e}")
            continue
        protocol.request_id = rid
        try:
            if argv[:1] == ["worker"]:
                emit("error", command="worker", code="bad_args", message="a worker does not start another one")
            else:
                main(argv)
        finally:
            protocol.request_id = None
    return 0


def main(argv=None) -> int:
    command = None
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # train --devices N re-runs them in its ranks
        command = args.command
        if command == "worker":
            return worker()
        result = dispatch(args)
        emit("result", command=command, **result)
        return 0
    except TrainerError as e:
        log(f"error [{e.code}]: {e.message}")
        emit("error", command=command, code=e.code, message=e.message, **e.data)
        return 1
    except KeyboardInterrupt:
        emit("error", command=command, code="internal", message="interrupted")
        return 130
    except Exception as e:  # a bug: keep the protocol, put the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        emit("error", command=command, code="internal", message=f"{type(e).__name__}: {e}")
        return 1
