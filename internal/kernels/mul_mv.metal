#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Weight rows per simdgroup in the matrix-vector kernels (the backend's
// mulMVRowsPerGroup is this times the simdgroups per threadgroup).
#define MUL_MV_NR 4

// Matrix x vector with F32 weights: dst[r][o] = sum_i w[o][i] * x[r][i].
// w: ne01 rows of ne00 floats, nb01 bytes apart; x: ne11 rows of ne00 floats;
// dst: ne11 rows of ne01 floats. Each simdgroup computes MUL_MV_NR weight
// rows; its 32 lanes stride over the columns and simd_sum combines them.
// Grid: (ceil(ne01 / (MUL_MV_NR * S)), ne11, 1) threadgroups of 32 * S threads.
kernel void kernel_mul_mv_f32(
        constant     MulMVArgs & args [[buffer(0)]],
        device const char      * w    [[buffer(1)]],
        device const float     * x    [[buffer(2)]],
        device       float     * dst  [[buffer(3)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne00 = args.ne00;
    const int ne01 = args.ne01;
    const int r0 = (tgpig.x * nsg + sgitg) * MUL_MV_NR;
    if (r0 >= ne01 || (int) tgpig.y >= args.ne11) {
        return;  // uniform across the simdgroup: r0 does not depend on the lane
    }
    const int nr = min(MUL_MV_NR, ne01 - r0);

    device const float * y = x + (ulong) tgpig.y * ne00;
    device       float * d = dst + (ulong) tgpig.y * ne01;

    float sum[MUL_MV_NR] = { 0.0f };
    if (ne00 % 4 == 0 && args.nb01 % 16 == 0) {
        // Rows are 16-byte aligned: read four columns at a time.
        device const float4 * y4 = (device const float4 *) y;
        for (int c = tiisg; c < ne00 / 4; c += 32) {
            const float4 yv = y4[c];
            for (int r = 0; r < nr; ++r) {
                device const float4 * w4 = (device const float4 *) (w + (ulong) (r0 + r) * args.nb01);
                sum[r] += dot(w4[c], yv);
            }
        }
    } else {
        for (int c = tiisg; c < ne00; c += 32) {
            const float yv = y[c];
            for (int r = 0; r < nr; ++r) {
                device const float * wr = (device const float *) (w + (ulong) (r0 + r) * args.nb01);
                sum[r] += wr[c] * yv;
            }
        }
    }

    for (int r = 0; r < MUL_MV_NR; ++r) {
        const float s = simd_sum(sum[r]);
        if (tiisg == 0 && r < nr) {
            d[r0 + r] = s;
        }
    }
}
