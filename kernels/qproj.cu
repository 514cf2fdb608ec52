// Query projections shared by the CUDA variants: Qp = Q * Pi^T and Qs = Q * S_mat^T in f32, once per solve.
//
// Output, with `frag` 0: QT[2][Drows][32]: QT[mat][d][b] (mat 0 = Qp, 1 = Qs), queries padded to 32 with zeros.
// With `frag` 1, the same values in the order in which cuda-warpspec builds its mma A fragments (see
// frag_index), so that a consumer lane reads its 8 values as two 16-byte loads. Rows d >= D are never written
// (the caller keeps them zero). With rowmax non-null, also the largest |value| of each (mat, b)
// row, as float bits by atomicMax into rowmax[mat * 32 + b] (zero before the launch).
//
// grid (ceil(D/4), 2), 128 threads: warp w computes row j = 4 * blockIdx.x + w of matrix blockIdx.y for all 32
// queries. Lane l takes dimensions 4l..4l+3 (and 128 + 4l.. for D > 128): it issues all its loads at once (one
// row segment of the matrix, 32 of Q), so the kernel waits for one memory latency, forms 32 partial dot products
// and sums them across the warp by halving exchanges (16 + 8 + 4 + 2 + 1 shuffles), after which lane l holds
// query l's value and the warp stores its row with one 128-byte write. No shared memory but the row maxima's.
// Calls griddepcontrol.launch_dependents first on sm_90, so a kernel launched after it with programmatic
// dependent launch starts at once (and waits for it with griddepcontrol.wait).

#define QPROJ_ROWS 4  // matrix rows per block (one per warp)

// Position of (mat, d, b) in the fragment order, for Drows = 16 KS rows: unit ((mat KS + ks) 2 + mt) 32 + lane'
// of 8 floats holds, for lane' = 4 g8 + t, query rows 16 mt + g8 (h = 0) and 16 mt + g8 + 8 (h = 1) at 4 h + q,
// where d = 64 (ks / 4) + 16 t + 4 (ks % 4) + q (the dimension permutation of kernels/cuda_warpspec.cu).
__device__ __forceinline__ size_t frag_index(int mat, int d, int b, int Drows) {
    const int ks = 4 * (d / 64) + (d % 16) / 4, t = (d % 64) / 16, q = d % 4;
    const int mt = b / 16, g8 = b % 8, h = (b % 16) / 8;
    return ((((size_t)mat * (Drows / 16) + ks) * 2 + mt) * 32 + 4 * g8 + t) * 8 + 4 * h + q;
}

// One halving exchange of width H: before it, p[0..2H) are partial sums of queries k + 2H * (lane / 2H) (k < 2H);
// the lane with bit H set keeps the upper half, its partner the lower, and each adds the half it receives. After
// the step of width 1, p[0] is the whole sum for query `lane`.
template <int H>
__device__ __forceinline__ void halve(float (&p)[32], int lane) {
    const bool upper = (lane & H) != 0;
#pragma unroll
    for (int k = 0; k < H; ++k) {
        const float send = upper ? p[k] : p[k + H];
        const float keep = upper ? p[k + H] : p[k];
        p[k] = keep + __shfl_xor_sync(0xffffffffu, send, H);
    }
}

extern "C" __global__ void __launch_bounds__(32 * QPROJ_ROWS) qproj_f32(
    const float* __restrict__ Q, const float* __restrict__ Pi, const float* __restrict__ Smat, int B, int D,
    int Drows, float* __restrict__ QT, unsigned int* __restrict__ rowmax, int frag) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    __shared__ float red[QPROJ_ROWS][32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, mat = blockIdx.y;
    const int j = QPROJ_ROWS * blockIdx.x + w;
    const float* __restrict__ M = mat == 0 ? Pi : Smat;
    // 16-byte loads where every row of Q and M starts on 16 bytes.
    const bool vec = (D & 3) == 0 && ((reinterpret_cast<size_t>(Q) | reinterpret_cast<size_t>(M)) & 15) == 0;

    float p[32];
#pragma unroll
    for (int b = 0; b < 32; ++b) p[b] = 0.0f;
    if (j < D) {
        for (int d0 = 0; d0 < D; d0 += 128) {
            const int d = d0 + 4 * lane;
            float4 m = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            float4 q[32];
            if (vec) {
                if (d < D) {
                    m = *reinterpret_cast<const float4*>(M + (size_t)j * D + d);
#pragma unroll
                    for (int b = 0; b < 32; ++b)
                        q[b] = b < B ? *reinterpret_cast<const float4*>(Q + (size_t)b * D + d)
                                     : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                } else {
#pragma unroll
                    for (int b = 0; b < 32; ++b) q[b] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                }
            } else {
                const float* mr = M + (size_t)j * D;
                m.x = d < D ? mr[d] : 0.0f;
                m.y = d + 1 < D ? mr[d + 1] : 0.0f;
                m.z = d + 2 < D ? mr[d + 2] : 0.0f;
                m.w = d + 3 < D ? mr[d + 3] : 0.0f;
#pragma unroll
                for (int b = 0; b < 32; ++b) {
                    const float* qr = Q + (size_t)b * D;
                    const bool ok = b < B;
                    q[b].x = ok && d < D ? qr[d] : 0.0f;
                    q[b].y = ok && d + 1 < D ? qr[d + 1] : 0.0f;
                    q[b].z = ok && d + 2 < D ? qr[d + 2] : 0.0f;
                    q[b].w = ok && d + 3 < D ? qr[d + 3] : 0.0f;
                }
            }
#pragma unroll
            for (int b = 0; b < 32; ++b) {
                p[b] = fmaf(q[b].x, m.x, p[b]);
                p[b] = fmaf(q[b].y, m.y, p[b]);
                p[b] = fmaf(q[b].z, m.z, p[b]);
                p[b] = fmaf(q[b].w, m.w, p[b]);
            }
        }
    }
    halve<16>(p, lane);
    halve<8>(p, lane);
    halve<4>(p, lane);
    halve<2>(p, lane);
    halve<1>(p, lane);
    const float v = p[0];
    if (j < D) QT[frag ? frag_index(mat, j, lane, Drows) : ((size_t)mat * Drows + j) * 32 + lane] = v;
    if (rowmax != nullptr) {
        red[w][lane] = j < D ? fabsf(v) : 0.0f;
        __syncthreads();
        if (w == 0) {
            float mx = red[0][lane];
#pragma unroll
            for (int k = 1; k < QPROJ_ROWS; ++k) mx = fmaxf(mx, red[k][lane]);
            atomicMax(&rowmax[mat * 32 + lane], __float_as_uint(mx));
        }
    }
}
