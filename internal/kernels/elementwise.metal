#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Elementwise kernels over n values (f32 unless named otherwise): one thread
// per value, grid ceil(n / T) threadgroups of T threads (the backend uses
// T = 256); threads past n return at once.

// Residual add, in place: dst[i] += x[i].
kernel void kernel_add(
        constant ElementwiseArgs & args [[buffer(0)]],
        device       float       * dst  [[buffer(1)]],
        device const float       * x    [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    dst[tpig] += x[tpig];
}

// SwiGLU: dst[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
// dst may alias gate (each thread reads its value before writing it).
kernel void kernel_swiglu(
        constant ElementwiseArgs & args [[buffer(0)]],
        device const float       * gate [[buffer(1)]],
        device const float       * up   [[buffer(2)]],
        device       float       * dst  [[buffer(3)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    const float g = gate[tpig];
    dst[tpig] = g / (1.0f + exp(-g)) * up[tpig];
}

// Gated attention's output gate, in place: dst[i] *= sigmoid(gate[i]),
// sigmoid(g) = 1 / (1 + exp(-g)).
kernel void kernel_sigmoid_mul(
        constant ElementwiseArgs & args [[buffer(0)]],
        device       float       * dst  [[buffer(1)]],
        device const float       * gate [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    dst[tpig] *= 1.0f / (1.0f + exp(-gate[tpig]));
}

// Undo a per-head interleaving (gated attention's query and gate, which
// one projection computes head after head): one thread per value of a, which
// it copies together with the value of b at the same place. Row r of src
// holds, for each head h, width values of a then width values of b.
kernel void kernel_split_heads(
        constant SplitHeadsArgs & args [[buffer(0)]],
        device const float      * src  [[buffer(1)]],
        device       float      * a    [[buffer(2)]],
        device       float      * b    [[buffer(3)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    const uint r = tpig / (uint) args.ne0;
    const uint c = tpig % (uint) args.ne0;
    const uint h = c / (uint) args.width;
    const uint e = c % (uint) args.width;
    device const float * s = src + (ulong) r * args.src_ne0 + 2 * h * args.width + e;
    a[tpig] = s[0];
    b[tpig] = s[args.width];
}

// Bias of ne0 values added to each row: x[i] += b[i % ne0] for i < n.
kernel void kernel_add_bias(
        constant BiasArgs  & args [[buffer(0)]],
        device       float * x    [[buffer(1)]],
        device const float * b    [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    x[tpig] += b[tpig % (uint) args.ne0];
}

// Greedy sampling on the GPU: out[0] = the index of the largest of n
// floats, the lowest such index on ties; NaNs never win, and when nothing
// beats -FLT_MAX (all -inf or NaN) the answer is 0. -FLT_MAX, not -INFINITY,
// is the starting value because fast math may assume there are no infinities.
// out[1] = 1 when some value is NaN or infinite (a broken model), else 0:
// tested on the bits (an all-ones exponent), which fast math leaves alone.
// One threadgroup of up to 1024 threads; threadgroup(0), (1) and (2) hold
// one float, one int and one int per simdgroup (32 of each cover 1024
// threads).

// argmax_pick combines two candidates (value, index): the larger value, the
// lower index among equal values. An index of n stands for "none yet".
static inline void argmax_pick(thread float & best, thread int & idx, float v, int i) {
    if (v > best || (v == best && i < idx)) {
        best = v;
        idx  = i;
    }
}

kernel void kernel_argmax(
        constant ElementwiseArgs & args [[buffer(0)]],
        device const float       * x    [[buffer(1)]],
        device       int32_t     * out  [[buffer(2)]],
        threadgroup  float       * vals [[threadgroup(0)]],
        threadgroup  int         * idxs [[threadgroup(1)]],
        threadgroup  int         * bads [[threadgroup(2)]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int n = args.n;
    float best = -FLT_MAX;
    int   idx  = n;
    int   bad  = 0;
    for (int i = tpitg; i < n; i += ntg) {
        const float v = x[i];
        argmax_pick(best, idx, v, i);  // increasing i: the first of equals stays
        bad |= (as_type<uint>(v) & 0x7f800000u) == 0x7f800000u;
    }

    // Within the simdgroup: the largest value, then the lowest index holding it.
    float m = simd_max(best);
    int   j = simd_min(best == m ? idx : n);
    bad = simd_max(bad);
    if (tiisg == 0) {
        vals[sgitg] = m;
        idxs[sgitg] = j;
        bads[sgitg] = bad;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    // Across simdgroups: every simdgroup reduces the partials (lane s reads
    // simdgroup s's), which keeps simd_max and simd_min in uniform control flow.
    best = -FLT_MAX;
    idx  = n;
    bad  = 0;
    if (tiisg < nsg) {
        best = vals[tiisg];
        idx  = idxs[tiisg];
        bad  = bads[tiisg];
    }
    m = simd_max(best);
    j = simd_min(best == m ? idx : n);
    bad = simd_max(bad);
    if (tpitg == 0) {
        out[0] = j < n ? j : 0;
        out[1] = bad;
    }
}
