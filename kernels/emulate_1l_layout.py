#!/usr/bin/env python3
# Emulates kernels/cuda_warpspec_1l.cu's operand build, A expansion, mma.sync fragments (PTX ISA layouts) and epilogue for
# one 64-key tile, in float64 for the tensor products, to check the index maps (not the hardware).
# Usage: emulate_1l_layout.py SEED B D C (needs numpy).
import numpy as np, math, sys
rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
B, D, C = [int(x) for x in (sys.argv[2:5] if len(sys.argv) > 4 else (32, 128, 16))]
KS = (D + 63) // 64 * 4; Dp = KS * 16; Drow = (D + 15) // 16 * 16
Qp = np.zeros((32, Dp)); Qs = np.zeros((32, Dp))
Qp[:B, :D] = rng.standard_normal((B, D)) * 3; Qs[:B, :D] = rng.standard_normal((B, D)) * 7
cb = np.linspace(-1, 1, C) * 0.37
keys = 64
idx = np.zeros((keys, Drow + 64), np.uint8); sgn = np.zeros((keys, Drow + 64), np.int8)
idx[:, :D] = rng.integers(0, C, (keys, D)); sgn[:, :D] = rng.choice([-1, 1], (keys, D))
idx[:, D:] = rng.integers(0, 256, (keys, Drow + 64 - D)); sgn[:, D:] = rng.integers(-128, 128, (keys, Drow + 64 - D))
gam = rng.random(keys); coef = math.sqrt(math.pi / 2) / D
def expo(m):
    if m <= 0: return 0
    return max(-120, min(120, math.frexp(m)[1]))
f16 = np.float16
def split(x):
    h = f16(x); l = f16(x - float(h)); return h, l
ecb = expo(np.abs(cb).max())
tab_hi = np.zeros(256, f16); tab_lo = np.zeros(256, f16)
for c in range(C): tab_hi[c], tab_lo[c] = split(cb[c] * 2.0 ** -ecb)
ep = [expo(np.abs(Qp[b]).max()) for b in range(32)]; es = [expo(np.abs(Qs[b]).max()) for b in range(32)]
alpha = [2.0 ** (ep[b] + ecb) for b in range(32)]; beta = [coef * 2.0 ** (es[b] - 22) for b in range(32)]
# build (byte buffers)
qph = np.zeros(KS * 1024, np.uint8); qpl = np.zeros(KS * 1024, np.uint8); qsl = np.zeros(KS // 2 * 3072, np.uint8)
def put16(buf, off, v): buf[off:off + 2] = np.frombuffer(np.array([v], f16).tobytes(), np.uint8)
for mat in range(2):
    for b in range(32):
        for dq in range(Dp // 4):
            d = 4 * dq; grp = d >> 6; dl = d & 63; t = dl >> 4; nrow = (b & 7) * 16; ngrp = b >> 3
            v = (Qp if mat == 0 else Qs)[b, d:d + 4]
            if mat == 0:
                ks = 4 * grp + ((dl >> 2) & 3); off = ks * 1024 + ngrp * 256 + nrow + 4 * t
                hl = [split(x * 2.0 ** -ep[b]) for x in v]
                put16(qph, off, hl[0][0]); put16(qph, off + 2, hl[1][0]); put16(qph, off + 128, hl[2][0]); put16(qph, off + 130, hl[3][0])
                put16(qpl, off, hl[0][1]); put16(qpl, off + 2, hl[1][1]); put16(qpl, off + 128, hl[2][1]); put16(qpl, off + 130, hl[3][1])
            else:
                J = 2 * grp + ((dl >> 3) & 1); kg = (dl >> 2) & 1; off = J * 3072 + kg * 128 + nrow + 4 * t
                for r in range(4):
                    n = int(np.rint(v[r] * 2.0 ** (22 - es[b])))
                    a = ((n + 128) & 255) - 128; n1 = (n - a) >> 8; b1 = ((n1 + 128) & 255) - 128; c2 = (n1 - b1) >> 8
                    assert -128 <= c2 <= 127 and n == c2 * 65536 + b1 * 256 + a
                    for L, l in enumerate((a, b1, c2)): qsl[off + (L * 4 + ngrp) * 256 + r] = l & 255
def h2(buf, off):  # two fp16 at byte offset -> floats
    return np.frombuffer(buf[off:off + 4].tobytes(), f16).astype(np.float64)
def s8x4(word_bytes): return word_bytes.astype(np.int8).astype(np.int64)
acc_out = np.zeros((32, keys))
for wq in range(4):
    acc1 = np.zeros((32, 16)); acc2 = np.zeros((32, 48), np.int64)
    for Gi in range(KS // 4):
        for j in range(4):
            ks = 4 * Gi + j
            # A fragments per lane: element (row, k) of the 16x16 A tile (row = key in warp slice)
            A_hi = np.zeros((16, 16)); A_lo = np.zeros((16, 16)); A_s = np.zeros((16, 32), np.int64)
            for lane in range(32):
                g, t = lane >> 2, lane & 3
                for rr, row in ((0, 16 * wq + g), (8, 16 * wq + g + 8)):
                    w = idx[row, 64 * Gi + 16 * t + 4 * j: 64 * Gi + 16 * t + 4 * j + 4]
                    A_hi[g + rr, 2 * t] = tab_hi[w[0]]; A_hi[g + rr, 2 * t + 1] = tab_hi[w[1]]
                    A_hi[g + rr, 2 * t + 8] = tab_hi[w[2]]; A_hi[g + rr, 2 * t + 9] = tab_hi[w[3]]
                    A_lo[g + rr, 2 * t] = tab_lo[w[0]]; A_lo[g + rr, 2 * t + 1] = tab_lo[w[1]]
                    A_lo[g + rr, 2 * t + 8] = tab_lo[w[2]]; A_lo[g + rr, 2 * t + 9] = tab_lo[w[3]]
                    if j & 1:
                        h = j >> 1
                        s0 = sgn[row, 64 * Gi + 16 * t + 8 * h: 64 * Gi + 16 * t + 8 * h + 4]
                        s1 = sgn[row, 64 * Gi + 16 * t + 8 * h + 4: 64 * Gi + 16 * t + 8 * h + 8]
                        A_s[g + rr, 4 * t:4 * t + 4] = s0; A_s[g + rr, 16 + 4 * t:16 + 4 * t + 4] = s1
            # mma.sync B fragments from smem, C layout
            for i in range(4):
                Bh = np.zeros((16, 8)); Bl = np.zeros((16, 8))
                for lane in range(32):
                    g, t = lane >> 2, lane & 3
                    o = ks * 1024 + g * 16 + 4 * t + i * 256
                    Bh[2 * t:2 * t + 2, g] = h2(qph, o); Bh[2 * t + 8:2 * t + 10, g] = h2(qph, o + 128)
                    Bl[2 * t:2 * t + 2, g] = h2(qpl, o); Bl[2 * t + 8:2 * t + 10, g] = h2(qpl, o + 128)
                Dm = A_hi @ Bh + A_hi @ Bl + A_lo @ Bh
                for lane in range(32):
                    g, t = lane >> 2, lane & 3
                    acc1[lane, 4 * i + 0] += Dm[g, 2 * t]; acc1[lane, 4 * i + 1] += Dm[g, 2 * t + 1]
                    acc1[lane, 4 * i + 2] += Dm[g + 8, 2 * t]; acc1[lane, 4 * i + 3] += Dm[g + 8, 2 * t + 1]
            if j & 1:
                J = 2 * Gi + (j >> 1)
                for i in range(12):
                    Bs = np.zeros((32, 8), np.int64)
                    for lane in range(32):
                        g, t = lane >> 2, lane & 3
                        o = J * 3072 + g * 16 + 4 * t + i * 256
                        Bs[4 * t:4 * t + 4, g] = s8x4(qsl[o:o + 4]); Bs[16 + 4 * t:16 + 4 * t + 4, g] = s8x4(qsl[o + 128:o + 132])
                    Dm = A_s @ Bs
                    for lane in range(32):
                        g, t = lane >> 2, lane & 3
                        acc2[lane, 4 * i + 0] += Dm[g, 2 * t]; acc2[lane, 4 * i + 1] += Dm[g, 2 * t + 1]
                        acc2[lane, 4 * i + 2] += Dm[g + 8, 2 * t]; acc2[lane, 4 * i + 3] += Dm[g + 8, 2 * t + 1]
    for lane in range(32):
        g, t = lane >> 2, lane & 3; rowg = 16 * wq + g
        for i in range(4):
            for x in range(4):
                b = 8 * i + 2 * t + (x & 1); s = rowg + 8 * (x >> 1)
                q = acc2[lane, 4 * (i + 8) + x] * 65536 + acc2[lane, 4 * (i + 4) + x] * 256 + acc2[lane, 4 * i + x]
                assert abs(q) < 2**31
                gm = gam[s]
                acc_out[b, s] = beta[b] * gm * float(np.float32(q)) + alpha[b] * acc1[lane, 4 * i + x]
ref = Qp[:, :D] @ cb[idx[:, :D].astype(int)].T + coef * gam[None, :] * (Qs[:, :D] @ sgn[:, :D].astype(float).T)
err = np.linalg.norm(acc_out[:B] - ref[:B]) / np.linalg.norm(ref[:B])
print(f"B={B} D={D} C={C}: rel frob {err:.2e}")
assert err < 1e-6
