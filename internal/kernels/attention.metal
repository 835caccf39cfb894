#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// The KV cache: writes of F32 rows into it, and causal attention over it
// (see AttnArgs in quant_args.h). Keys and values are each stored in one of
// ggml's types (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1: dequant.h's
// blk_<type>), rows of kv_dim values; heads are whole blocks.
//
// Stores: kernel_cpy_f32_<type> quantizes one block per thread (one value
// for the float types), as ggml's quantize_row_<type>_ref.
//
// Attention: templates over the key type BK and the value type BV, one
// kernel per pair. One simdgroup (a threadgroup of 32 threads) handles one
// query row of one head. Lane `lane` owns the head dimensions lane,
// lane + 32, ... (at most ATTN_DIMS_PER_LANE of them, so head_dim <= 256):
// it keeps those q values and those output accumulators in registers, and
// reads those values of each key and value row with blk_<type>::dequant1 (of
// a 32-value block type, value `lane` of each block: the lanes share the
// block's scale and read a quant each). Positions go four at a time: each
// lane multiplies its dimensions of q and of the four keys, one simd_sum of
// a float4 gives the four scores to every lane, and the softmax runs online
// (streaming): a running maximum m and sum l, with the accumulated outputs
// rescaled by exp(m_old - m_new) whenever m grows. Every lane computes the
// same m and l, so no further communication is needed, and neither is
// threadgroup memory.
//
// The long decode step is split over the sequence: kernel_attn_split_*
// runs one simdgroup per (chunk, head) and stores {m, l, unnormalised
// outputs}; kernel_attn_reduce combines the chunks of each head with
// log-sum-exp rescaling.

// n floats (whole blocks) into the cache from block block0 on: thread i
// writes block i.
template <typename B>
kernel void kernel_cpy_f32(
        constant CacheStoreArgs & args [[buffer(0)]],
        device const float      * src  [[buffer(1)]],
        device       char       * dst  [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) (args.n / B::QK)) {
        return;
    }
    B::quantize(src + (ulong) tpig * B::QK, dst + ((ulong) args.block0 + tpig) * B::BYTES);
}

typedef decltype(kernel_cpy_f32<blk_f32>) cpy_t;

#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_cpy_f32_f32")]]  kernel cpy_t kernel_cpy_f32<blk_f32>;
template [[host_name("kernel_cpy_f32_f16")]]  kernel cpy_t kernel_cpy_f32<blk_f16>;
template [[host_name("kernel_cpy_f32_bf16")]] kernel cpy_t kernel_cpy_f32<blk_bf16>;
template [[host_name("kernel_cpy_f32_q8_0")]] kernel cpy_t kernel_cpy_f32<blk_q8_0>;
template [[host_name("kernel_cpy_f32_q4_0")]] kernel cpy_t kernel_cpy_f32<blk_q4_0>;
template [[host_name("kernel_cpy_f32_q4_1")]] kernel cpy_t kernel_cpy_f32<blk_q4_1>;
template [[host_name("kernel_cpy_f32_q5_0")]] kernel cpy_t kernel_cpy_f32<blk_q5_0>;
template [[host_name("kernel_cpy_f32_q5_1")]] kernel cpy_t kernel_cpy_f32<blk_q5_1>;
#endif

#define ATTN_DIMS_PER_LANE 8
// The running maximum before any score: finite, because fast math may assume
// there are no infinities, and low enough that exp(ATTN_NO_SCORE - s) is 0.
#define ATTN_NO_SCORE (-FLT_MAX / 2)

// The keys' dot products take q as llama.cpp's CPU flash attention (whose
// perplexities are the golden ones) does: converted to the key type's
// vec_dot type first. Float keys: q rounded to the key's precision
// (BK::act). 32-value block keys: q quantized to q8_0 (q8_1 for q4_1 and
// q5_1, whose quants and d are the same) per block of 32 values as ggml's
// x86 quantize_row_q8_0 does: d = amax / 127, quants x * (127 / amax)
// rounded to nearest even, and the dot product scaled by d as stored,
// in fp16. (The q8_1 block's s = d * sum(quants), which multiplies the
// keys' offset m, is not rounded to fp16 here: a relative 1e-3 of one
// term.) attn_q8 is one value of such a block, given the block's largest
// magnitude amax.
static inline float attn_q8(float x, float amax) {
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    return rint(x * id) * float(half(amax / 127.0f));
}

// attn_round_q rounds a simdgroup's q values for keys of type BK, held as
// attn_row holds them (element j of lane `lane` is dimension lane + 32 * j,
// 0 past the head): block j of a 32-value type is element j of every lane.
template <typename BK>
static inline void attn_round_q(thread float * qv) {
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        if (BK::QK == 1) {
            qv[j] = BK::act(qv[j]);
        } else {
            qv[j] = attn_q8(qv[j], simd_max(fabs(qv[j])));
        }
    }
}

// attn_span runs the online softmax over cache positions [t0, t1) of one
// head: k and v point at the head's first block in cache row 0, rows are
// k_row and v_row bytes apart. qv and acc are the lane's q values and output
// accumulators (dimension lane + 32 * j in element j); m and l the running
// maximum and sum, the same in every lane. t0 and t1 must be the same in
// every lane (the loop holds a simd_sum).
template <typename BK, typename BV>
static inline void attn_span(
        device const char * k, device const char * v, ulong k_row, ulong v_row, int head_dim, float scale,
        int t0, int t1, ushort lane,
        thread const float * qv, thread float * acc, thread float & m, thread float & l) {
    for (int t = t0; t < t1; t += 4) {
        // Partial dot products of q with keys t .. t+3 (positions >= t1 are
        // neither read nor counted).
        float4 part = float4(0.0f);
        for (int u = 0; u < 4; ++u) {
            if (t + u < t1) {
                device const char * kt = k + (t + u) * k_row;
                float sum = 0.0f;
                for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
                    const int d = lane + 32 * j;
                    if (d < head_dim) {
                        sum += qv[j] * BK::dequant1(kt, d);
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
                        a += p[u] * BV::dequant1(v + (t + u) * v_row, d);
                    }
                }
                acc[j] = a;
            }
        }
    }
}

// The first block of KV head h (of head_dim values) in a row of type B.
template <typename B>
static inline device const char * attn_head(device const char * row, int h, int head_dim) {
    return row + (ulong) (h * head_dim / B::QK) * B::BYTES;
}

// Bytes per cache row of kv_dim values of type B.
template <typename B>
static inline ulong attn_row_bytes(int kv_dim) {
    return (ulong) (kv_dim / B::QK) * B::BYTES;
}

// attn_row: query row r, head h, attending to cache positions [0, t1);
// writes the normalised output.
template <typename BK, typename BV>
static inline void attn_row(
        constant AttnArgs & args, device const float * q, device const char * k, device const char * v,
        device float * dst, int r, int h, int t1, ushort lane) {
    const int head_dim = args.head_dim;
    const int kv_head  = h / (args.n_heads / args.n_kv_heads);
    const ulong q_off  = ((ulong) r * args.n_heads + h) * head_dim;

    float qv[ATTN_DIMS_PER_LANE];
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        qv[j]  = d < head_dim ? q[q_off + d] : 0.0f;
        acc[j] = 0.0f;
    }
    attn_round_q<BK>(qv);
    float m = ATTN_NO_SCORE;
    float l = 0.0f;
    attn_span<BK, BV>(attn_head<BK>(k, kv_head, head_dim), attn_head<BV>(v, kv_head, head_dim),
                      attn_row_bytes<BK>(args.kv_dim), attn_row_bytes<BV>(args.kv_dim),
                      head_dim, args.scale, 0, t1, lane, qv, acc, m, l);

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
template <typename BK, typename BV>
static inline void attn_chunk(
        constant AttnArgs & args, device const float * q, device const char * k, device const char * v,
        device float * partials, int c, int h, ushort lane) {
    const int head_dim = args.head_dim;
    const int n_pos    = args.pos0 + 1;
    const int n_chunks = (n_pos + args.chunk - 1) / args.chunk;
    if (c >= n_chunks) {
        return;  // the whole simdgroup: c is uniform
    }
    const int t0      = c * args.chunk;
    const int t1      = min(t0 + args.chunk, n_pos);
    const int kv_head = h / (args.n_heads / args.n_kv_heads);

    float qv[ATTN_DIMS_PER_LANE];
    float acc[ATTN_DIMS_PER_LANE];
    for (int j = 0; j < ATTN_DIMS_PER_LANE; ++j) {
        const int d = lane + 32 * j;
        qv[j]  = d < head_dim ? q[(ulong) h * head_dim + d] : 0.0f;
        acc[j] = 0.0f;
    }
    attn_round_q<BK>(qv);
    float m = ATTN_NO_SCORE;
    float l = 0.0f;
    attn_span<BK, BV>(attn_head<BK>(k, kv_head, head_dim), attn_head<BV>(v, kv_head, head_dim),
                      attn_row_bytes<BK>(args.kv_dim), attn_row_bytes<BV>(args.kv_dim),
                      head_dim, args.scale, t0, t1, lane, qv, acc, m, l);

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

template <typename BK, typename BV>
kernel void kernel_attn(
        constant     AttnArgs & args [[buffer(0)]],
        device const float    * q    [[buffer(1)]],
        device const char     * k    [[buffer(2)]],
        device const char     * v    [[buffer(3)]],
        device       float    * dst  [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const int r = tgpig.x;
    attn_row<BK, BV>(args, q, k, v, dst, r, tgpig.y, args.pos0 + r + 1, tiisg);
}

template <typename BK, typename BV>
kernel void kernel_attn_split(
        constant     AttnArgs & args     [[buffer(0)]],
        device const float    * q        [[buffer(1)]],
        device const char     * k        [[buffer(2)]],
        device const char     * v        [[buffer(3)]],
        device       float    * partials [[buffer(4)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    attn_chunk<BK, BV>(args, q, k, v, partials, tgpig.x, tgpig.y, tiisg);
}

typedef decltype(kernel_attn<blk_f32, blk_f32>) attn_t;
typedef decltype(kernel_attn_split<blk_f32, blk_f32>) attn_split_t;

// Every pair of key and value types, kernel_attn_<k>_<v> and
// kernel_attn_split_<k>_<v>.
#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_attn_f32_f32")]]         kernel attn_t       kernel_attn<blk_f32, blk_f32>;
template [[host_name("kernel_attn_split_f32_f32")]]   kernel attn_split_t kernel_attn_split<blk_f32, blk_f32>;
template [[host_name("kernel_attn_f32_f16")]]         kernel attn_t       kernel_attn<blk_f32, blk_f16>;
template [[host_name("kernel_attn_split_f32_f16")]]   kernel attn_split_t kernel_attn_split<blk_f32, blk_f16>;
template [[host_name("kernel_attn_f32_bf16")]]        kernel attn_t       kernel_attn<blk_f32, blk_bf16>;
template [[host_name("kernel_attn_split_f32_bf16")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_bf16>;
template [[host_name("kernel_attn_f32_q8_0")]]        kernel attn_t       kernel_attn<blk_f32, blk_q8_0>;
template [[host_name("kernel_attn_split_f32_q8_0")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_q8_0>;
template [[host_name("kernel_attn_f32_q4_0")]]        kernel attn_t       kernel_attn<blk_f32, blk_q4_0>;
template [[host_name("kernel_attn_split_f32_q4_0")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_q4_0>;
template [[host_name("kernel_attn_f32_q4_1")]]        kernel attn_t       kernel_attn<blk_f32, blk_q4_1>;
template [[host_name("kernel_attn_split_f32_q4_1")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_q4_1>;
template [[host_name("kernel_attn_f32_q5_0")]]        kernel attn_t       kernel_attn<blk_f32, blk_q5_0>;
template [[host_name("kernel_attn_split_f32_q5_0")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_q5_0>;
template [[host_name("kernel_attn_f32_q5_1")]]        kernel attn_t       kernel_attn<blk_f32, blk_q5_1>;
template [[host_name("kernel_attn_split_f32_q5_1")]]  kernel attn_split_t kernel_attn_split<blk_f32, blk_q5_1>;
template [[host_name("kernel_attn_f16_f32")]]         kernel attn_t       kernel_attn<blk_f16, blk_f32>;
template [[host_name("kernel_attn_split_f16_f32")]]   kernel attn_split_t kernel_attn_split<blk_f16, blk_f32>;
template [[host_name("kernel_attn_f16_f16")]]         kernel attn_t       kernel_attn<blk_f16, blk_f16>;
template [[host_name("kernel_attn_split_f16_f16")]]   kernel attn_split_t kernel_attn_split<blk_f16, blk_f16>;
template [[host_name("kernel_attn_f16_bf16")]]        kernel attn_t       kernel_attn<blk_f16, blk_bf16>;
template [[host_name("kernel_attn_split_f16_bf16")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_bf16>;
template [[host_name("kernel_attn_f16_q8_0")]]        kernel attn_t       kernel_attn<blk_f16, blk_q8_0>;
template [[host_name("kernel_attn_split_f16_q8_0")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_q8_0>;
template [[host_name("kernel_attn_f16_q4_0")]]        kernel attn_t       kernel_attn<blk_f16, blk_q4_0>;
template [[host_name("kernel_attn_split_f16_q4_0")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_q4_0>;
template [[host_name("kernel_attn_f16_q4_1")]]        kernel attn_t       kernel_attn<blk_f16, blk_q4_1>;
template [[host_name("kernel_attn_split_f16_q4_1")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_q4_1>;
template [[host_name("kernel_attn_f16_q5_0")]]        kernel attn_t       kernel_attn<blk_f16, blk_q5_0>;
template [[host_name("kernel_attn_split_f16_q5_0")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_q5_0>;
template [[host_name("kernel_attn_f16_q5_1")]]        kernel attn_t       kernel_attn<blk_f16, blk_q5_1>;
template [[host_name("kernel_attn_split_f16_q5_1")]]  kernel attn_split_t kernel_attn_split<blk_f16, blk_q5_1>;
template [[host_name("kernel_attn_bf16_f32")]]        kernel attn_t       kernel_attn<blk_bf16, blk_f32>;
template [[host_name("kernel_attn_split_bf16_f32")]]  kernel attn_split_t kernel_attn_split<blk_bf16, blk_f32>;
template [[host_name("kernel_attn_bf16_f16")]]        kernel attn_t       kernel_attn<blk_bf16, blk_f16>;
template [[host_name("kernel_attn_split_bf16_f16")]]  kernel attn_split_t kernel_attn_split<blk_bf16, blk_f16>;
template [[host_name("kernel_attn_bf16_bf16")]]       kernel attn_t       kernel_attn<blk_bf16, blk_bf16>;
template [[host_name("kernel_attn_split_bf16_bf16")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_bf16>;
template [[host_name("kernel_attn_bf16_q8_0")]]       kernel attn_t       kernel_attn<blk_bf16, blk_q8_0>;
template [[host_name("kernel_attn_split_bf16_q8_0")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_q8_0>;
template [[host_name("kernel_attn_bf16_q4_0")]]       kernel attn_t       kernel_attn<blk_bf16, blk_q4_0>;
template [[host_name("kernel_attn_split_bf16_q4_0")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_q4_0>;
template [[host_name("kernel_attn_bf16_q4_1")]]       kernel attn_t       kernel_attn<blk_bf16, blk_q4_1>;
template [[host_name("kernel_attn_split_bf16_q4_1")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_q4_1>;
template [[host_name("kernel_attn_bf16_q5_0")]]       kernel attn_t       kernel_attn<blk_bf16, blk_q5_0>;
template [[host_name("kernel_attn_split_bf16_q5_0")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_q5_0>;
template [[host_name("kernel_attn_bf16_q5_1")]]       kernel attn_t       kernel_attn<blk_bf16, blk_q5_1>;
template [[host_name("kernel_attn_split_bf16_q5_1")]] kernel attn_split_t kernel_attn_split<blk_bf16, blk_q5_1>;
template [[host_name("kernel_attn_q8_0_f32")]]        kernel attn_t       kernel_attn<blk_q8_0, blk_f32>;
template [[host_name("kernel_attn_split_q8_0_f32")]]  kernel attn_split_t kernel_attn_split<blk_q8_0, blk_f32>;
template [[host_name("kernel_attn_q8_0_f16")]]        kernel attn_t       kernel_attn<blk_q8_0, blk_f16>;
template [[host_name("kernel_attn_split_q8_0_f16")]]  kernel attn_split_t kernel_attn_split<blk_q8_0, blk_f16>;
template [[host_name("kernel_attn_q8_0_bf16")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_bf16>;
template [[host_name("kernel_attn_split_q8_0_bf16")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_bf16>;
template [[host_name("kernel_attn_q8_0_q8_0")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_q8_0>;
template [[host_name("kernel_attn_split_q8_0_q8_0")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_q8_0>;
template [[host_name("kernel_attn_q8_0_q4_0")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_q4_0>;
template [[host_name("kernel_attn_split_q8_0_q4_0")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_q4_0>;
template [[host_name("kernel_attn_q8_0_q4_1")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_q4_1>;
template [[host_name("kernel_attn_split_q8_0_q4_1")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_q4_1>;
template [[host_name("kernel_attn_q8_0_q5_0")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_q5_0>;
template [[host_name("kernel_attn_split_q8_0_q5_0")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_q5_0>;
template [[host_name("kernel_attn_q8_0_q5_1")]]       kernel attn_t       kernel_attn<blk_q8_0, blk_q5_1>;
template [[host_name("kernel_attn_split_q8_0_q5_1")]] kernel attn_split_t kernel_attn_split<blk_q8_0, blk_q5_1>;
template [[host_name("kernel_attn_q4_0_f32")]]        kernel attn_t       kernel_attn<blk_q4_0, blk_f32>;
template [[host_name("kernel_attn_split_q4_0_f32")]]  kernel attn_split_t kernel_attn_split<blk_q4_0, blk_f32>;
template [[host_name("kernel_attn_q4_0_f16")]]        kernel attn_t       kernel_attn<blk_q4_0, blk_f16>;
template [[host_name("kernel_attn_split_q4_0_f16")]]  kernel attn_split_t kernel_attn_split<blk_q4_0, blk_f16>;
template [[host_name("kernel_attn_q4_0_bf16")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_bf16>;
template [[host_name("kernel_attn_split_q4_0_bf16")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_bf16>;
template [[host_name("kernel_attn_q4_0_q8_0")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_q8_0>;
template [[host_name("kernel_attn_split_q4_0_q8_0")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_q8_0>;
template [[host_name("kernel_attn_q4_0_q4_0")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_q4_0>;
template [[host_name("kernel_attn_split_q4_0_q4_0")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_q4_0>;
template [[host_name("kernel_attn_q4_0_q4_1")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_q4_1>;
template [[host_name("kernel_attn_split_q4_0_q4_1")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_q4_1>;
template [[host_name("kernel_attn_q4_0_q5_0")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_q5_0>;
template [[host_name("kernel_attn_split_q4_0_q5_0")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_q5_0>;
template [[host_name("kernel_attn_q4_0_q5_1")]]       kernel attn_t       kernel_attn<blk_q4_0, blk_q5_1>;
template [[host_name("kernel_attn_split_q4_0_q5_1")]] kernel attn_split_t kernel_attn_split<blk_q4_0, blk_q5_1>;
template [[host_name("kernel_attn_q4_1_f32")]]        kernel attn_t       kernel_attn<blk_q4_1, blk_f32>;
template [[host_name("kernel_attn_split_q4_1_f32")]]  kernel attn_split_t kernel_attn_split<blk_q4_1, blk_f32>;
template [[host_name("kernel_attn_q4_1_f16")]]        kernel attn_t       kernel_attn<blk_q4_1, blk_f16>;
template [[host_name("kernel_attn_split_q4_1_f16")]]  kernel attn_split_t kernel_attn_split<blk_q4_1, blk_f16>;
template [[host_name("kernel_attn_q4_1_bf16")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_bf16>;
template [[host_name("kernel_attn_split_q4_1_bf16")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_bf16>;
template [[host_name("kernel_attn_q4_1_q8_0")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_q8_0>;
template [[host_name("kernel_attn_split_q4_1_q8_0")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_q8_0>;
template [[host_name("kernel_attn_q4_1_q4_0")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_q4_0>;
template [[host_name("kernel_attn_split_q4_1_q4_0")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_q4_0>;
template [[host_name("kernel_attn_q4_1_q4_1")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_q4_1>;
template [[host_name("kernel_attn_split_q4_1_q4_1")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_q4_1>;
template [[host_name("kernel_attn_q4_1_q5_0")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_q5_0>;
template [[host_name("kernel_attn_split_q4_1_q5_0")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_q5_0>;
template [[host_name("kernel_attn_q4_1_q5_1")]]       kernel attn_t       kernel_attn<blk_q4_1, blk_q5_1>;
template [[host_name("kernel_attn_split_q4_1_q5_1")]] kernel attn_split_t kernel_attn_split<blk_q4_1, blk_q5_1>;
template [[host_name("kernel_attn_q5_0_f32")]]        kernel attn_t       kernel_attn<blk_q5_0, blk_f32>;
template [[host_name("kernel_attn_split_q5_0_f32")]]  kernel attn_split_t kernel_attn_split<blk_q5_0, blk_f32>;
template [[host_name("kernel_attn_q5_0_f16")]]        kernel attn_t       kernel_attn<blk_q5_0, blk_f16>;
template [[host_name("kernel_attn_split_q5_0_f16")]]  kernel attn_split_t kernel_attn_split<blk_q5_0, blk_f16>;
template [[host_name("kernel_attn_q5_0_bf16")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_bf16>;
template [[host_name("kernel_attn_split_q5_0_bf16")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_bf16>;
template [[host_name("kernel_attn_q5_0_q8_0")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_q8_0>;
template [[host_name("kernel_attn_split_q5_0_q8_0")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_q8_0>;
template [[host_name("kernel_attn_q5_0_q4_0")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_q4_0>;
template [[host_name("kernel_attn_split_q5_0_q4_0")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_q4_0>;
template [[host_name("kernel_attn_q5_0_q4_1")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_q4_1>;
template [[host_name("kernel_attn_split_q5_0_q4_1")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_q4_1>;
template [[host_name("kernel_attn_q5_0_q5_0")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_q5_0>;
template [[host_name("kernel_attn_split_q5_0_q5_0")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_q5_0>;
template [[host_name("kernel_attn_q5_0_q5_1")]]       kernel attn_t       kernel_attn<blk_q5_0, blk_q5_1>;
template [[host_name("kernel_attn_split_q5_0_q5_1")]] kernel attn_split_t kernel_attn_split<blk_q5_0, blk_q5_1>;
template [[host_name("kernel_attn_q5_1_f32")]]        kernel attn_t       kernel_attn<blk_q5_1, blk_f32>;
template [[host_name("kernel_attn_split_q5_1_f32")]]  kernel attn_split_t kernel_attn_split<blk_q5_1, blk_f32>;
template [[host_name("kernel_attn_q5_1_f16")]]        kernel attn_t       kernel_attn<blk_q5_1, blk_f16>;
template [[host_name("kernel_attn_split_q5_1_f16")]]  kernel attn_split_t kernel_attn_split<blk_q5_1, blk_f16>;
template [[host_name("kernel_attn_q5_1_bf16")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_bf16>;
template [[host_name("kernel_attn_split_q5_1_bf16")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_bf16>;
template [[host_name("kernel_attn_q5_1_q8_0")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_q8_0>;
template [[host_name("kernel_attn_split_q5_1_q8_0")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_q8_0>;
template [[host_name("kernel_attn_q5_1_q4_0")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_q4_0>;
template [[host_name("kernel_attn_split_q5_1_q4_0")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_q4_0>;
template [[host_name("kernel_attn_q5_1_q4_1")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_q4_1>;
template [[host_name("kernel_attn_split_q5_1_q4_1")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_q4_1>;
template [[host_name("kernel_attn_q5_1_q5_0")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_q5_0>;
template [[host_name("kernel_attn_split_q5_1_q5_0")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_q5_0>;
template [[host_name("kernel_attn_q5_1_q5_1")]]       kernel attn_t       kernel_attn<blk_q5_1, blk_q5_1>;
template [[host_name("kernel_attn_split_q5_1_q5_1")]] kernel attn_split_t kernel_attn_split<blk_q5_1, blk_q5_1>;
#endif

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
