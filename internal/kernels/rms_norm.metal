#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// RMSNorm fused with the weight, group by group (a row, or a head for Q/K
// norm and DeltaNet's output norm). One threadgroup per group of ne0 values
// (grid.x = groups), up to 1024 threads; threadgroup(0) holds one float per
// simdgroup (128 bytes cover any size). dst may alias x.

// rms_scale returns 1 / sqrt(mean(x^2) + eps) over x[0..ne0), to every
// thread of the threadgroup. Call it from uniform control flow.
static inline float rms_scale(
        device const float * x, int ne0, float eps, threadgroup float * sums,
        ushort tpitg, ushort ntg, ushort sgitg, ushort tiisg, ushort nsg) {
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
    return rsqrt(sum / ne0 + eps);
}

//   dst = x / sqrt(mean(x^2) + eps) * w
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

    const float scale = rms_scale(x, ne0, args.eps, sums, tpitg, ntg, sgitg, tiisg, nsg);
    for (int i = tpitg; i < ne0; i += ntg) {
        y[i] = x[i] * scale * w[i];
    }
}

// Gated RMSNorm (DeltaNet's output): dst = x / sqrt(mean(x^2) + eps) * w *
// silu(z), silu(z) = z / (1 + exp(-z)); z is laid out as x.
kernel void kernel_gated_rms_norm(
        constant     RMSNormArgs & args [[buffer(0)]],
        device const float       * src  [[buffer(1)]],
        device const float       * w    [[buffer(2)]],
        device       float       * dst  [[buffer(3)]],
        device const float       * gate [[buffer(4)]],
        threadgroup  float       * sums [[threadgroup(0)]],
        uint   tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne0 = args.ne0;
    device const float * x = src  + (ulong) tgpig * ne0;
    device const float * z = gate + (ulong) tgpig * ne0;
    device       float * y = dst  + (ulong) tgpig * ne0;

    const float scale = rms_scale(x, ne0, args.eps, sums, tpitg, ntg, sgitg, tiisg, nsg);
    for (int i = tpitg; i < ne0; i += ntg) {
        const float g = z[i];
        y[i] = x[i] * scale * w[i] * (g / (1.0f + exp(-g)));
    }
}
