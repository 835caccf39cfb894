// Deliberately broken kernels: the emulator must catch each of them
// (broken_test.go). Test-only: never part of kernels.Source().
// Lines marked "MARK:" are located by the tests to check reported sites.
#include <metal_stdlib>
using namespace metal;

#include "../../quant_args.h"

// kernel_rms_norm without the barrier between writing and reading the
// simdgroups' partial sums.
kernel void broken_rms_norm_no_barrier(
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
    if (tiisg == 0) {
        sums[sgitg] = sum;
    }
    // (threadgroup_barrier missing)
    sum = 0.0f;
    for (ushort i = 0; i < nsg; ++i) {
        sum += sums[i];
    }
    const float scale = rsqrt(sum / ne0 + args.eps);
    for (int i = tpitg; i < ne0; i += ntg) {
        y[i] = x[i] * scale * w[i];
    }
}

// kernel_rms_norm with the barrier moved into the branch taken by lane 0 only.
kernel void broken_rms_norm_divergent_barrier(
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
    if (tiisg == 0) {
        sums[sgitg] = sum;
        threadgroup_barrier(mem_flags::mem_threadgroup);  // MARK: divergent barrier
    }
    sum = 0.0f;
    for (ushort i = 0; i < nsg; ++i) {
        sum += sums[i];
    }
    const float scale = rsqrt(sum / ne0 + args.eps);
    for (int i = tpitg; i < ne0; i += ntg) {
        y[i] = x[i] * scale * w[i];
    }
}

// Threads past the end return early, the others then wait at a barrier.
kernel void broken_barrier_after_return(
        constant CopyArgs  & args [[buffer(0)]],
        device const float * a    [[buffer(1)]],
        device       float * dst  [[buffer(2)]],
        threadgroup float  * tmp  [[threadgroup(0)]],
        uint   tpig  [[thread_position_in_grid]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    tmp[tpitg] = a[tpig];
    threadgroup_barrier(mem_flags::mem_threadgroup);  // MARK: barrier after return
    dst[tpig] = tmp[ntg - 1 - tpitg];
}

// A SIMD-group reduction taken by half of the lanes only.
kernel void broken_simd_sum_divergent(
        device const float * a   [[buffer(1)]],
        device       float * dst [[buffer(2)]],
        uint   tpig  [[thread_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    float v = a[tpig];
    if (tiisg < 16) {
        v = simd_sum(v);  // MARK: divergent simd_sum
    }
    dst[tpig] = v;
}

// kernel_add with `>` for `>=`: thread n reads and writes one past the end.
kernel void broken_add_off_by_one(
        constant CopyArgs  & args [[buffer(0)]],
        device       float * dst  [[buffer(1)]],
        device const float * x    [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig > (uint) args.n) {
        return;
    }
    dst[tpig] += x[tpig];  // MARK: off by one
}

// kernel_rms_norm whose sum of squares runs one element too far: it reads
// the next row's first element, and past the end of src on the last row.
kernel void broken_rms_norm_read_past_end(
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
    for (int i = tpitg; i <= ne0; i += ntg) {
        sum += x[i] * x[i];  // MARK: read past end
    }
    sum = simd_sum(sum);
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
