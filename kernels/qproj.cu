// Query projections shared by the CUDA variants: Qp = Q * Pi^T and Qs = Q * S_mat^T in f32, once per solve.
//
// Output QT[2][Drows][32]: QT[mat][d][b] (mat 0 = Qp, 1 = Qs), queries padded to 32 with zeros. Rows d >= D are
// never written (the caller keeps them zero). With rowmax non-null, also the largest |value| of each (mat, b)
// row, as float bits by atomicMax into rowmax[mat * 32 + b] (zero before the launch).
//
// grid (ceil(D/8), 2), 256 threads: thread (b = tid % 32, d = 8 * blockIdx.x + tid / 32) computes one output
// from Q and 8 rows of the matrix staged in shared memory; the staging loads are issued 16 (Q) and 8 (matrix)
// at a time, so a cold solve pays two memory latencies here. Dynamic shared memory: (32 * (D|1) + 8 * D) floats.
// Calls griddepcontrol.launch_dependents first on sm_90, so a kernel launched after it with programmatic
// dependent launch starts at once (and waits for it with griddepcontrol.wait).

extern "C" __global__ void __launch_bounds__(256) qproj_f32(const float* __restrict__ Q, const float* __restrict__ Pi,
                                                            const float* __restrict__ Smat, int B, int D, int Drows,
                                                            float* __restrict__ QT, unsigned int* __restrict__ rowmax) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    extern __shared__ float sh[];
    __shared__ float red[8][32];
    const int stride = D | 1;       // odd: lanes (queries) read distinct banks
    float* qs = sh;                 // [32][stride]
    float* ms = sh + 32 * stride;   // [8][D]
    const int tid = threadIdx.x, mat = blockIdx.y, d_base = 8 * blockIdx.x;
    const float* M = mat == 0 ? Pi : Smat;

    const int nq = 32 * D;
    for (int i0 = 0; i0 < nq; i0 += 256 * 16) {
        float v[16];
#pragma unroll
        for (int u = 0; u < 16; ++u) {
            const int i = i0 + u * 256 + tid;
            v[u] = (i < nq && i < B * D) ? Q[i] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < 16; ++u) {
            const int i = i0 + u * 256 + tid;
            if (i < nq) qs[(i / D) * stride + i % D] = v[u];
        }
    }
    const int nm = 8 * D;
    for (int i0 = 0; i0 < nm; i0 += 256 * 8) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) {
            const int i = i0 + u * 256 + tid;
            const int d = d_base + i / D;
            v[u] = (i < nm && d < D) ? M[(size_t)d * D + i % D] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < 8; ++u) {
            const int i = i0 + u * 256 + tid;
            if (i < nm) ms[i] = v[u];
        }
    }
    __syncthreads();

    const int b = tid & 31, dl = tid >> 5, d = d_base + dl;
    const float* qb = qs + b * stride;
    const float* mr = ms + dl * D;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int j = 0;
    for (; j + 4 <= D; j += 4) {
#pragma unroll
        for (int u = 0; u < 4; ++u) acc[u] = fmaf(qb[j + u], mr[j + u], acc[u]);
    }
    for (; j < D; ++j) acc[0] = fmaf(qb[j], mr[j], acc[0]);
    const float v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    if (d < D) QT[((size_t)mat * Drows + d) * 32 + b] = v;
    if (rowmax != nullptr) {
        red[dl][b] = d < D ? fabsf(v) : 0.0f;
        __syncthreads();
        if (tid < 32) {
            float m = red[0][tid];
#pragma unroll
            for (int k = 1; k < 8; ++k) m = fmaxf(m, red[k][tid]);
            atomicMax(&rowmax[mat * 32 + tid], __float_as_uint(m));
        }
    }
}
