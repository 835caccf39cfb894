#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Causal attention over the KV cache (see AttnArgs in quant_args.h).
//
// One simdgroup (a threadgroup of 32 threads) handles one query row of one
// head. Lane `lane` owns the head dimensions lane, lane + 32, ... (at most
// ATTN_DIMS_PER_LANE of them, so head_dim <= 256): it keeps those q values
// and those output accumulators in registers. Positions go four at a time:
// each lane multiplies its dimensions of q and of the four keys, one
// simd_sum of a float4 gives the four scores to every lane, and the softmax
// runs online (streaming): a running maximum m and sum l, with the
// accumulated outputs rescaled by exp(m_old - m_new) whenever m grows. Every
// lane computes the same m and l, so no further communication is needed,
// and neither is threadgroup memory.
//
// The long decode step is split over the sequence: kernel_attn_split_*
// runs one simdgroup per (chunk, head) and stores {m, l, unnormalised
// outputs}; kernel_attn_reduce combines the chunks of each head with
// log-sum-exp rescaling.

#define ATTN_DIMS_PER_LANE 8
// The running maximum before any score: finite, because fast math may assume
// there are no infinities, and low enough that exp(ATTN_NO_SCORE - s) is 0.
#define ATTN_NO_SCORE (-FLT_MAX / 2)

// attn_span runs the online softmax over cache positions [t0, t1) of one
// head: k and v point at the head's first value in cache row 0, rows are
// kv_dim values apart. qv and acc are the lane's q values and output
// accumulators (dimension lane + 32 * j in element j); m and l the running
// maximum and sum, the same in every lane. t0 and t1 must be the same in
// every lane (the loop holds a simd_sum).
template <typename T>
static inline void attn_span(
        device const T * k, device const T * v, int kv_dim, int head_dim, float scale,
        int t0, int t1, ushort lane,
        thread const float * qv, thread float * acc, thread float & m, thread float & l) {
    for (int t = t0; t < t1; t += 4) {
        // Partial dot products of q with keys t .. t+3 (positions >= t1 are
        // neither read nor counted).
        float4 part = float4(0.0f);
        for (int u = 0; u < 4; ++u) {
            if (t + u < t1) {
                device const T * kt = k + (ulong) (t + u) * kv_dim;
                float sum = 0.0f;
                for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
                    const int d = lane + 32 * j;
                    if (d < head_dim) {
                        sum += qv[j] * float(kt[d]);
                    }
                }
                part[u] = sum;
            }
        }
        const float4 s = simd_sum(part) * scale;

        float m_new = m;
        for (int u = 0; u < 4; ++u) {
            if (t + u < t1) {
                m_new = max(m_new, s[u]);
            }
        }
        const float alpha = exp(m - m_new);  // 0 before the first score
        float4 p = float4(0.0f);
        for (int u = 0; u < 4; ++u) {
            if (t + u < t1) {
                p[u] = exp(s[u] - m_new);
            }
        }
        l = l * alpha + ((p.x + p.y) + (p.z + p.w));
        m = m_new;

        for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
            const int d = lane + 32 * j;
            if (d < head_dim) {
                float a = acc[j] * alpha;
                for (int u = 0; u < 4; ++u) {
                    if (t + u < t1) {
                        a += p[u] * float(v[(ulong) (t + u) * kv_dim + d]);
                    }
                }
                acc[j] = a;
            }
        }
    }
}

// attn_row: query row r, head h, attending to cache positions [0, t1);
// writes the normalised output.
template <typename T>
static inline void attn_row(
        constant AttnArgs & args, device const float * q, device const T * k, device const T * v,
        device float * dst, int r, int h, int t1, ushort lane) {
    const int head_dim = args.head_dim;
    const int kv_off   = h / (args.n_heads / args.n_kv_heads) * head_dim;
    const ulong q_off  = ((ulong) r * args.n_heads + h) * head_dim;

    float qv[ATTN_DIMS_PER_LANE];
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        qv[j]  = d < head_dim ? q[q_off + d] : 0.0f;
        acc[j] = 0.0f;
    }
    float m = ATTN_NO_SCORE;
    float l = 0.0f;
    attn_span<T>(k + kv_off, v + kv_off, args.kv_dim, head_dim, args.scale, 0, t1, lane, qv, acc, m, l);

    const float inv = 1.0f / l;
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        if (d < head_dim) {
            dst[q_off + d] = acc[j] * inv;
        }
    }
}

// attn_chunk: the decode row (row 0) of head h over chunk c of the
// positions 0..pos0; writes {m, l, unnormalised outputs} to its partials.
template <typename T>
static inline void attn_chunk(
        constant AttnArgs & args, device const float * q, device const T * k, device const T * v,
        device float * partials, int c, int h, ushort lane) {
    const int head_dim = args.head_dim;
    const int n_pos    = args.pos0 + 1;
    const int n_chunks = (n_pos + args.chunk - 1) / args.chunk;
    if (c >= n_chunks) {
        return;  // the whole simdgroup: c is uniform
    }
    const int t0     = c * args.chunk;
    const int t1     = min(t0 + args.chunk, n_pos);
    const int kv_off = h / (args.n_heads / args.n_kv_heads) * head_dim;

    float qv[ATTN_DIMS_PER_LANE];
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        qv[j]  = d < head_dim ? q[(ulong) h * head_dim + d] : 0.0f;
        acc[j] = 0.0f;
    }
    float m = ATTN_NO_SCORE;
    float l = 0.0f;
    attn_span<T>(k + kv_off, v + kv_off, args.kv_dim, head_dim, args.scale, t0, t1, lane, qv, acc, m, l);

    device float * p = partials + ((ulong) h * n_chunks + c) * (head_dim + 2);
    if (lane == 0) {
        p[0] = m;
        p[1] = l;
    }
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        if (d < head_dim) {
            p[2 + d] = acc[j];
        }
    }
}

kernel void kernel_attn_f16(
        constant     AttnArgs & args [[buffer(0)]],
        device const float    * q    [[buffer(1)]],
        device const half     * k    [[buffer(2)]],
        device const half     * v    [[buffer(3)]],
        device       float    * dst  [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const int r = tgpig.x;
    attn_row<half>(args, q, k, v, dst, r, tgpig.y, args.pos0 + r + 1, tiisg);
}

kernel void kernel_attn_f32(
        constant     AttnArgs & args [[buffer(0)]],
        device const float    * q    [[buffer(1)]],
        device const float    * k    [[buffer(2)]],
        device const float    * v    [[buffer(3)]],
        device       float    * dst  [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const int r = tgpig.x;
    attn_row<float>(args, q, k, v, dst, r, tgpig.y, args.pos0 + r + 1, tiisg);
}

kernel void kernel_attn_split_f16(
        constant     AttnArgs & args     [[buffer(0)]],
        device const float    * q        [[buffer(1)]],
        device const half     * k        [[buffer(2)]],
        device const half     * v        [[buffer(3)]],
        device       float    * partials [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    attn_chunk<half>(args, q, k, v, partials, tgpig.x, tgpig.y, tiisg);
}

kernel void kernel_attn_split_f32(
        constant     AttnArgs & args     [[buffer(0)]],
        device const float    * q        [[buffer(1)]],
        device const float    * k        [[buffer(2)]],
        device const float    * v        [[buffer(3)]],
        device       float    * partials [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    attn_chunk<float>(args, q, k, v, partials, tgpig.x, tgpig.y, tiisg);
}

// Combines the chunks of head tgpig: with M the largest chunk maximum and
// w_c = exp(m_c - M), out = sum_c w_c * acc_c / sum_c w_c * l_c.
kernel void kernel_attn_reduce(
        constant     AttnArgs & args     [[buffer(0)]],
        device const float    * partials [[buffer(1)]],
        device       float    * dst      [[buffer(2)]],
        uint   tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const int head_dim = args.head_dim;
    const int stride   = head_dim + 2;
    const int n_chunks = (args.pos0 + args.chunk) / args.chunk;
    device const float * p = partials + (ulong) tgpig * n_chunks * stride;

    float m = ATTN_NO_SCORE;
    for (int c = 0; c < n_chunks; ++c) {
        m = max(m, p[c * stride]);
    }
    float l = 0.0f;
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        acc[j] = 0.0f;
    }
    for (int c = 0; c < n_chunks; ++c) {
        device const float * pc = p + c * stride;
        const float w = exp(pc[0] - m);
        l += w * pc[1];
        for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
            const int d = tiisg + 32 * j;
            if (d < head_dim) {
                acc[j] += w * pc[2 + d];
            }
        }
    }

    const float inv = 1.0f / l;
    device float * out = dst + (ulong) tgpig * head_dim;
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = tiisg + 32 * j;
        if (d < head_dim) {
            out[d] = acc[j] * inv;
        }
    }
}
