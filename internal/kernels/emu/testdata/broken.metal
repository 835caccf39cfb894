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
        constant ElementwiseArgs & args [[buffer(0)]],
        device const float       * a    [[buffer(1)]],
        device       float       * dst  [[buffer(2)]],
        threadgroup float        * tmp  [[threadgroup(0)]],
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
        constant ElementwiseArgs & args [[buffer(0)]],
        device       float       * dst  [[buffer(1)]],
        device const float       * x    [[buffer(2)]],
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

// A matmul on 32x32 tiles of floats in threadgroup memory (128 threads,
// each accumulating a 4x2 block), f32 weights only, with one of its two
// barriers per 32-value slice left out: broken_mul_mm_no_load_barrier
// computes before the other threads have filled the tiles,
// broken_mul_mm_no_reuse_barrier overwrites the tiles with the next slice
// while other threads still read the current one.
inline void broken_mul_mm_f32(
        constant MatMulArgs & args, device const char * w, device const float * x, device float * dst,
        threadgroup float * tw, threadgroup float * tx, uint3 tgpig, ushort tiitg,
        bool load_barrier, bool reuse_barrier) {
    const int ne00 = args.ne00, ne01 = args.ne01, ne11 = args.ne11;
    const int r0 = tgpig.x * 32, c0 = tgpig.y * 32;
    const short lr = tiitg % 32, lk = 8 * (tiitg / 32);
    const bool wok = r0 + lr < ne01, xok = c0 + lr < ne11;
    device const float * wrow = (device const float *) (w + (ulong) (wok ? r0 + lr : 0) * args.nb01);
    device const float * xrow = x + (ulong) (xok ? c0 + lr : 0) * ne00;
    const short tr = tiitg % 8, tc = tiitg / 8;
    float4 acc0 = float4(0.0f), acc1 = float4(0.0f);
    for (int k0 = 0; k0 < ne00; k0 += 32) {
        if (reuse_barrier) {
            threadgroup_barrier(mem_flags::mem_threadgroup);
        }
        for (short i = 0; i < 8; ++i) {
            const int c = k0 + lk + i;
            tw[32 * (lk + i) + lr] = wok && c < ne00 ? wrow[c] : 0.0f;
            tx[32 * (lk + i) + lr] = xok && c < ne00 ? xrow[c] : 0.0f;
        }
        if (load_barrier) {
            threadgroup_barrier(mem_flags::mem_threadgroup);
        }
        for (short k = 0; k < 32; ++k) {
            const float4 a = ((threadgroup const float4 *) (tw + 32 * k))[tr];
            const float2 b = ((threadgroup const float2 *) (tx + 32 * k))[tc];
            acc0 += a * b.x;
            acc1 += a * b.y;
        }
    }
    const int c = c0 + 2 * tc;
    for (short i = 0; i < 4; ++i) {
        const int r = r0 + 4 * tr + i;
        if (r < ne01 && c < ne11) {
            dst[(ulong) c * ne01 + r] = acc0[i];
        }
        if (r < ne01 && c + 1 < ne11) {
            dst[(ulong) (c + 1) * ne01 + r] = acc1[i];
        }
    }
}

kernel void broken_mul_mm_no_load_barrier(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char      * w    [[buffer(1)]],
        device const float     * x    [[buffer(2)]],
        device       float     * dst  [[buffer(3)]],
        threadgroup  float     * tw   [[threadgroup(0)]],
        threadgroup  float     * tx   [[threadgroup(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    broken_mul_mm_f32(args, w, x, dst, tw, tx, tgpig, tiitg, false, true);
}

kernel void broken_mul_mm_no_reuse_barrier(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char      * w    [[buffer(1)]],
        device const float     * x    [[buffer(2)]],
        device       float     * dst  [[buffer(3)]],
        threadgroup  float     * tw   [[threadgroup(0)]],
        threadgroup  float     * tx   [[threadgroup(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    broken_mul_mm_f32(args, w, x, dst, tw, tx, tgpig, tiitg, true, false);
}

// Attention kernels with one deliberate change each (ops_test.go). They
// reuse the product helpers of attention.metal, included here: this file is
// compiled on its own, in a namespace of its own.
#include "../../attention.metal"

// kernel_attn_f32_f32 whose causal mask lets row r see position pos0 + r + 1.
kernel void broken_attn_f32_causal_off_by_one(
        constant     AttnArgs & args [[buffer(0)]],
        device const float    * q    [[buffer(1)]],
        device const char     * k    [[buffer(2)]],
        device const char     * v    [[buffer(3)]],
        device       float    * dst  [[buffer(4)]],
        threadgroup  float    * tq   [[threadgroup(0)]],
        threadgroup  float    * tkv  [[threadgroup(1)]],
        threadgroup  float    * tp   [[threadgroup(2)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    attn_prefill<blk_f32, blk_f32>(args, q, k, v, dst, tq, tkv, tp, tgpig, sgitg, tiisg, tiitg, 1);  // MARK: causal off by one
}

// kernel_attn_reduce summing the chunks without rescaling each by
// exp(m_c - M) to the common maximum.
kernel void broken_attn_reduce_no_rescale(
        constant     AttnArgs & args     [[buffer(0)]],
        device const float    * partials [[buffer(1)]],
        device       float    * dst      [[buffer(2)]],
        uint   tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const int head_dim = args.head_dim;
    const int stride   = head_dim + 2;
    const int n_chunks = (args.pos0 + args.chunk) / args.chunk;
    device const float * p = partials + (ulong) tgpig * n_chunks * stride;
    float l = 0.0f;
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        acc[j] = 0.0f;
    }
    for (int c = 0; c < n_chunks; ++c) {
        device const float * pc = p + c * stride;
        l += pc[1];  // MARK: no rescale
        for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
            const int d = tiisg + 32 * j;
            if (d < head_dim) {
                acc[j] += pc[2 + d];
            }
        }
    }
    device float * out = dst + (ulong) tgpig * head_dim;
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = tiisg + 32 * j;
        if (d < head_dim) {
            out[d] = acc[j] / l;
        }
    }
}

// SIMD-group matrix functions called wrongly (matrix_test.go).

// Half the lanes load a matrix.
kernel void broken_matrix_divergent_load(
        device const float * src [[buffer(0)]],
        device       float * dst [[buffer(1)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    if (tiisg < 16) {
        simdgroup_load(m, src);  // MARK: divergent matrix load
    }
    simdgroup_store(m, dst);
}

// Each lane passes its own row length.
kernel void broken_matrix_lane_stride(
        device const float * src [[buffer(0)]],
        device       float * dst [[buffer(1)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    simdgroup_float8x8 m;
    simdgroup_load(m, src, 8 + tiisg % 2);  // MARK: lane stride
    simdgroup_store(m, dst);
}

// Run with a threadgroup of fewer than 32 threads: a partial simdgroup.
kernel void broken_matrix_partial_simdgroup(
        device const float * src [[buffer(0)]],
        device       float * dst [[buffer(1)]]) {
    simdgroup_float8x8 a, b;
    simdgroup_load(a, src);  // MARK: partial simdgroup
    simdgroup_multiply(b, a, a);
    simdgroup_store(b, dst);
}
