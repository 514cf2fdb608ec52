#!/usr/bin/env python3
"""The reduced form of the TurboQuant attention-scores challenge in NumPy, timed: the baseline `cpu-tiled` is
compared with.

It reads a case written by the judge, computes, from the raw inputs on every call,

    Qp = Q @ Pi.T
    Qs = Q @ S_mat.T
    scores = Qp @ codebook[K_idx].T + coef * gamma * (Qs @ qjl_signs.T)      with coef = sqrt(pi/2) / D

in float32 (the two large products go to NumPy's BLAS, OpenBLAS in the PyPI wheels), reports the median time
over repeated calls, and checks the result against the scores stored in the file (the judge's f64 oracle).

How to run it (from the repository root):

    pip install numpy
    cargo run --release -p harness --bin judge -- case export --suite perf --out /tmp/perf.npz
    python3 tools/numpy_reduced.py /tmp/perf.npz

then, for the Rust side of the comparison in the same session:

    cargo bench -p harness --bench cpu

Options: --repeats N (timed calls, default 30), --warmup N (untimed calls first, default 3), --json (print one
JSON object instead of the text: median_s, min_s, max_s, repeats, rel_frobenius, passed, numpy, blas; the cpu bench
reads it). BLAS uses every core unless told otherwise (for example OPENBLAS_NUM_THREADS=1). Exit status: 0 when the scores match the stored
ones within the challenge's tolerance (|x - ref| <= 1e-3 + 1e-3·|ref|), 1 when they do not, 2 on bad input.

--serve times calls on request, so that another program can alternate its own calls with these on the same
machine (the cpu bench's paired comparison does). After the warm-up and the check it prints one JSON line (ready,
rel_frobenius, passed, numpy, blas), then reads lines from stdin: a count N runs N timed calls and answers
{"times": [seconds, ...]}; an empty line or the end of input ends it (status 0). Anything else is bad input
(status 2, the line named on stderr).
"""

import argparse
import json
import math
import sys
import time

import numpy as np

FIELDS = {
    "Q": np.float32,
    "K_idx": np.uint8,
    "qjl_signs": np.int8,
    "gamma": np.float32,
    "Pi": np.float32,
    "S_mat": np.float32,
    "codebook": np.float32,
    "scores": np.float32,
}


def reduced_form(q, k_idx, signs, gamma, pi, s_mat, codebook):
    """Scores [B, S] from raw inputs, in float32."""
    d = q.shape[1]
    coef = np.float32(math.sqrt(math.pi / 2.0) / d)
    qp = q @ pi.T
    qs = q @ s_mat.T
    values = codebook[k_idx]  # [S, D] float32; K_idx is uint8, so indices >= 128 stay positive
    return qp @ values.T + (coef * gamma) * (qs @ signs.astype(np.float32).T)


def fail(message):
    """Reports bad input and exits with status 2."""
    print(message, file=sys.stderr)
    sys.exit(2)


def load(path):
    if not str(path).endswith(".npz"):
        fail(f"{path}: this script reads .npz cases only (write one with `judge case export ... --out FILE.npz`)")
    try:
        case = np.load(path)
    except (OSError, ValueError) as e:
        fail(f"{path}: cannot read: {e}")
    arrays = {}
    for name, dtype in FIELDS.items():
        if name not in case.files:
            fail(f"{path}: no '{name}' array (write the case with `judge case export ... --out FILE.npz`)")
        a = case[name]
        if a.dtype != dtype:
            fail(f"{path}: '{name}' is {a.dtype}, expected {np.dtype(dtype)}")
        arrays[name] = a
    return arrays


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", help=".npz case file written by `judge case export`")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the warm-up and the check, time N calls for each count N read from stdin (see above)",
    )
    args = parser.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    if args.serve and args.json:
        parser.error("--serve already answers in JSON; leave out --json")

    a = load(args.case)
    inputs = [a[k] for k in ("Q", "K_idx", "qjl_signs", "gamma", "Pi", "S_mat", "codebook")]
    b, d = a["Q"].shape
    s = a["K_idx"].shape[0]
    c = a["codebook"].shape[0]

    if args.serve:
        return serve(a, inputs, args.warmup)

    for _ in range(args.warmup):
        reduced_form(*inputs)
    times, out = timed_calls(inputs, args.repeats)
    times.sort()
    median = float(np.median(times))

    max_err, rel_frob, passed = check(out, a["scores"])
    flops = 4.0 * b * s * d  # 2·B·S·D·2, the count the cpu bench uses

    if args.json:
        summary = {
            "case": args.case,
            "shape": {"B": b, "S": s, "D": d, "C": c},
            "median_s": median,
            "min_s": times[0],
            "max_s": times[-1],
            "repeats": args.repeats,
            "max_abs_err": max_err,
            "rel_frobenius": rel_frob,
            "passed": passed,
            "numpy": np.__version__,
            "blas": blas_name(),
        }
        print(json.dumps(summary))
        return 0 if passed else 1

    print(f"case: {args.case}  B={b} S={s} D={d} C={c}")
    print(f"numpy {np.__version__}, BLAS: {blas_name()}")
    print(
        f"reduced form: median {median * 1e3:.3f} ms  min {times[0] * 1e3:.3f} ms  "
        f"max {times[-1] * 1e3:.3f} ms over {args.repeats} calls; {flops / median / 1e9:.1f} GFLOP/s (2·B·S·D·2)"
    )
    print(
        f"check against stored scores: max abs err {max_err:.2e}, rel Frobenius {rel_frob:.2e}: "
        f"{'pass' if passed else 'FAIL'} (atol = rtol = 1e-3)"
    )
    return 0 if passed else 1


def timed_calls(inputs, n):
    """Seconds of each of `n` calls (n >= 1), and the last call's scores."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        out = reduced_form(*inputs)
        times.append(time.perf_counter() - start)
    return times, out


def check(out, scores):
    """(max abs error, relative Frobenius error, within the challenge's tolerance) of `out` against `scores`."""
    ref = scores.astype(np.float64)
    got = out.astype(np.float64)
    err = np.abs(got - ref)
    rel_frob = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), np.finfo(np.float64).tiny))
    return float(err.max()), rel_frob, bool(np.all(err <= 1e-3 + 1e-3 * np.abs(ref)))


def serve(a, inputs, warmup):
    """The --serve loop (see the module docs)."""
    out = reduced_form(*inputs)
    for _ in range(warmup):
        out = reduced_form(*inputs)
    max_err, rel_frob, passed = check(out, a["scores"])
    ready = {
        "ready": True,
        "max_abs_err": max_err,
        "rel_frobenius": rel_frob,
        "passed": passed,
        "numpy": np.__version__,
        "blas": blas_name(),
    }
    print(json.dumps(ready), flush=True)
    for number, line in enumerate(sys.stdin, start=1):
        request = line.strip()
        if not request:
            return 0
        if not request.isdigit() or int(request) < 1:
            fail(f"stdin line {number}: expected a count of calls (a positive integer), got {request!r}")
        times, _ = timed_calls(inputs, int(request))
        print(json.dumps({"times": times}), flush=True)
    return 0


def blas_name():
    try:
        info = np.show_config(mode="dicts")
        blas = info["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
