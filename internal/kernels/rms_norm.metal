#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// RMSNorm fused with the weight, row by row:
//   dst = x / sqrt(mean(x^2) + eps) * w
// One threadgroup per row of ne0 values (grid.x = rows), up to 1024 threads;
// threadgroup(0) holds one float per simdgroup (128 bytes cover any size).
// dst may alias x.
kernel void kernel_rms_norm(
        constant     RMSNormArgs & args [[buffer(0)]],
        device const float       * src  [[buffer(1)]],
        device const float       * w    [[buffer(2)]],
        device       float       * dst  [[buffer(3)]],
        threadgroup  float       * sums [[threadgroup(0)]],
        uint   tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne0 = args.ne0;
    device const float * x = src + (ulong) tgpig * ne0;
    device       float * y = dst + (ulong) tgpig * ne0;

    float sum = 0.0f;
    for (int i = tpitg; i < ne0; i += ntg) {
        sum += x[i] * x[i];
    }
    sum = simd_sum(sum);

    // Combine the simdgroups' partial sums through threadgroup memory. Every
    // thread adds them all up: a second simd_sum would miss partials when the
    // last simdgroup has fewer lanes than there are simdgroups.
    if (tiisg == 0) {
        sums[sgitg] = sum;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    sum = 0.0f;
    for (ushort i = 0; i < nsg; ++i) {
        sum += sums[i];
    }

    const float scale = rsqrt(sum / ne0 + args.eps);
    for (int i = tpitg; i < ne0; i += ntg) {
        y[i] = x[i] * scale * w[i];
    }
}
