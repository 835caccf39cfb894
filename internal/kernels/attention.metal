#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Causal attention over the KV cache (see AttnArgs in quant_args.h; rows
// are written by kernel_rope_store). Keys and values are each stored in one of
// ggml's types (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1: dequant.h's
// blk_<type>), rows of kv_dim values; heads are whole blocks.
//
// Attention: templates over the key type BK and the value type BV, one
// kernel per pair; threadgroups of ATTN_SG simdgroups; online (streaming)
// softmax: a running maximum m and sum l, the accumulated outputs rescaled
// by exp(m_old - m_new) whenever m grows. q is first rounded to the key
// type's dot-product format (attn_load_q).
//
// Decode (kernel_attn_split_*, attn_decode): one threadgroup per (chunk of
// QUANT_ATTN_CHUNK positions, head); keys spread across the lanes and the
// simdgroups, each lane reading 8 consecutive values of a key and of its
// value row; the key slots and simdgroups merged at the end. One chunk
// writes the output; several write partials {m, l, unnormalised outputs}
// that kernel_attn_reduce combines with log-sum-exp rescaling.
//
// Prefill (kernel_attn_*, attn_prefill): one threadgroup per ATTN_ROWS
// query rows of a head, flash style: tiles of keys, then of values,
// dequantized once into threadgroup memory for all the rows.

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
inline float attn_q8(float x, float amax) {
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    return rint(x * id) * float(half(amax / 127.0f));
}

// Head dimensions rounded up to a multiple of 8: the kernels read keys and
// values 8 at a time (dequant8) and keep q and tiles in that stride.
inline int attn_dim8(int head_dim) {
    return (head_dim + 7) & ~7;
}

// attn_load_q: one simdgroup writes q's head (head_dim values at q; zeros
// when !valid) to tq rounded for keys of type BK, zeros past head_dim up to
// attn_dim8(head_dim). Lane `lane` takes values c + lane: for a 32-value
// block type, block c / 32 is one value of every lane.
template <typename BK>
static inline void attn_load_q(device const float * q, bool valid, int head_dim, threadgroup float * tq, ushort lane) {
    const int dim8 = attn_dim8(head_dim);
    for (int c = 0; c < dim8; c += 32) {
        const int d = c + lane;
        const float x = valid && d < head_dim ? q[d] : 0.0f;
        float y;
        if (BK::QK == 1) {
            y = BK::act(x);
        } else {
            y = attn_q8(x, simd_max(fabs(x)));
        }
        if (d < dim8) {
            tq[d] = y;
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

// ---- decode: one query row, ATTN_SG simdgroups per (chunk, head)

#define ATTN_SG QUANT_ATTN_SG

// attn_decode: the decode row (row 0) of head tgpig.y over chunk tgpig.x of
// the positions 0..pos0. Keys are spread across lanes: a key's head_dim
// values are read by G lanes, 8 consecutive values each (G the power of two
// with 8*G >= head_dim, at most 32), so a simdgroup takes P = 32/G keys at
// once and the threadgroup ATTN_SG*P (head_dim 64: 8 lanes a key, 16 keys
// a step; 128: 16 lanes, 8 keys). The G lanes of a key add their partial
// dot products with log2(G) xor shuffles and run an online softmax (running
// maximum m and sum l, outputs rescaled by exp(m_old - m_new)) over the
// keys they take: every ATTN_SG*P-th position of the chunk. At the end the
// P key slots of a simdgroup are merged with shuffles (log-sum-exp), the
// ATTN_SG simdgroups through threadgroup memory. With one chunk the
// normalised output goes to out (the dst rows); with several, {m, l,
// unnormalised outputs} go to out as the chunk's partials, which
// kernel_attn_reduce combines.
template <typename BK, typename BV>
static inline void attn_decode(
        constant AttnArgs & args, device const float * q, device const char * k, device const char * v,
        device float * out, threadgroup float * tq, threadgroup float * tacc,
        uint3 tgpig, ushort sgitg, ushort tiisg, ushort tiitg) {
    const int head_dim = args.head_dim;
    const int dim8     = attn_dim8(head_dim);
    const int n_pos    = args.pos0 + 1;
    const int n_chunks = (n_pos + args.chunk - 1) / args.chunk;
    const int c        = tgpig.x;
    const int h        = tgpig.y;
    if (c >= n_chunks) {
        return;  // the whole threadgroup
    }
    const int t0      = c * args.chunk;
    const int t1      = min(t0 + args.chunk, n_pos);
    const int kv_head = h / (args.n_heads / args.n_kv_heads);
    device const char * kh = attn_head<BK>(k, kv_head, head_dim);
    device const char * vh = attn_head<BV>(v, kv_head, head_dim);
    const ulong k_row = attn_row_bytes<BK>(args.kv_dim);
    const ulong v_row = attn_row_bytes<BV>(args.kv_dim);

    if (sgitg == 0) {
        attn_load_q<BK>(q + (ulong) h * head_dim, true, head_dim, tq, tiisg);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    ushort G = 1;
    while (8 * G < head_dim) {
        G *= 2;
    }
    const ushort P    = 32 / G;
    const ushort slot = tiisg / G;      // the key slot of the lane
    const int    d0   = 8 * (tiisg % G); // its first dimension
    const bool   dims = d0 < head_dim;   // lanes past the head hold none
    float qv[8];
    float acc[8];
    for (short i = 0; i < 8; ++i) {
        qv[i]  = dims ? tq[d0 + i] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = ATTN_NO_SCORE;
    float l = 0.0f;

    const int step = ATTN_SG * P;
    for (int tb = t0; tb < t1; tb += step) {
        const int  t     = tb + sgitg * P + slot;
        const bool valid = t < t1;
        float s = 0.0f;
        if (valid && dims) {
            float kv[8];
            BK::dequant8(kh + t * k_row, d0, head_dim, kv);
            for (short i = 0; i < 8; ++i) {
                s += qv[i] * kv[i];
            }
        }
        for (ushort o = G / 2; o > 0; o /= 2) {
            s += simd_shuffle_xor(s, o);
        }
        if (valid) {
            s *= args.scale;
            const float m_new = max(m, s);
            const float alpha = exp(m - m_new);  // 0 before the first score
            const float p     = exp(s - m_new);
            l = l * alpha + p;
            m = m_new;
            if (dims) {
                float vv[8];
                BV::dequant8(vh + t * v_row, d0, head_dim, vv);
                for (short i = 0; i < 8; ++i) {
                    acc[i] = acc[i] * alpha + p * vv[i];
                }
            }
        }
    }

    // Merge the key slots: lanes d0 of slots slot and slot ^ (o / G).
    for (ushort o = G; o < 32; o *= 2) {
        const float m_o   = simd_shuffle_xor(m, o);
        const float l_o   = simd_shuffle_xor(l, o);
        const float m_new = max(m, m_o);
        const float a     = exp(m - m_new);
        const float b     = exp(m_o - m_new);
        l = l * a + l_o * b;
        for (short i = 0; i < 8; ++i) {
            acc[i] = acc[i] * a + simd_shuffle_xor(acc[i], o) * b;
        }
        m = m_new;
    }
    const int stride = dim8 + 2;
    threadgroup float * mine = tacc + sgitg * stride;
    if (tiisg == 0) {
        mine[0] = m;
        mine[1] = l;
    }
    if (slot == 0 && dims) {
        for (short i = 0; i < 8; ++i) {
            mine[2 + d0 + i] = acc[i];
        }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    // Merge the simdgroups: a thread per dimension.
    float mx = ATTN_NO_SCORE;
    for (short g = 0; g < ATTN_SG; ++g) {
        mx = max(mx, tacc[g * stride]);
    }
    float w[ATTN_SG];
    float sum = 0.0f;
    for (short g = 0; g < ATTN_SG; ++g) {
        w[g] = exp(tacc[g * stride] - mx);
        sum += w[g] * tacc[g * stride + 1];
    }
    device float * p = out + ((ulong) h * n_chunks + c) * (head_dim + 2);
    if (n_chunks > 1 && tiitg == 0) {
        p[0] = mx;
        p[1] = sum;
    }
    for (int d = tiitg; d < head_dim; d += ATTN_SG * 32) {
        float o = 0.0f;
        for (short g = 0; g < ATTN_SG; ++g) {
            o += w[g] * tacc[g * stride + 2 + d];
        }
        if (n_chunks > 1) {
            p[2 + d] = o;
        } else {
            out[(ulong) h * head_dim + d] = o / sum;
        }
    }
}

// ---- prefill: ATTN_ROWS query rows per threadgroup, tiles of keys

#define ATTN_ROWS QUANT_ATTN_ROWS
#define ATTN_ROWS_PER_SG (ATTN_ROWS / ATTN_SG)
static_assert(ATTN_ROWS_PER_SG == 2, "attn_prefill keeps a simdgroup's rows in float2s");

// Keys per tile of attn_prefill: QUANT_ATTN_KEYS, half as many past heads
// of 128 values (the tile is keys x (dim8 + 4) floats).
inline int attn_tile_keys(int head_dim) {
    return head_dim <= 128 ? QUANT_ATTN_KEYS : QUANT_ATTN_KEYS / 2;
}

// attn_load_tile: the threadgroup writes the tile's rows t0..t0+n-1 of a
// cache head (values dequantized to float, row j at tile + j * (dim8 + 4));
// rows past n_kv (not written yet: any bytes) are zeros.
template <typename B>
static inline void attn_load_tile(device const char * head, ulong row_bytes, int head_dim, int t0, int n, int n_kv,
                                  threadgroup float * tile, ushort tiitg) {
    const int dim8   = attn_dim8(head_dim);
    const int pieces = dim8 / 8;
    for (int idx = tiitg; idx < n * pieces; idx += ATTN_SG * 32) {
        const int j = idx / pieces;
        const int c = 8 * (idx % pieces);
        float x[8];
        if (t0 + j < n_kv) {
            B::dequant8(head + (t0 + j) * row_bytes, c, head_dim, x);
        } else {
            for (short i = 0; i < 8; ++i) {
                x[i] = 0.0f;
            }
        }
        threadgroup float * dst = tile + j * (dim8 + 4) + c;
        for (short i = 0; i < 8; ++i) {
            dst[i] = x[i];
        }
    }
}

// attn_prefill: query rows r0..r0+ATTN_ROWS-1 (r0 = ATTN_ROWS * tgpig.x)
// of head tgpig.y, flash style. Simdgroup sg owns rows r0 + 2sg and
// r0 + 2sg + 1 (q in tq, rounded as attn_load_q does); the keys the last
// row sees (n_kv) are walked in tiles of T keys (attn_tile_keys), each
// loaded once into threadgroup memory for the ATTN_ROWS rows: lane j % T
// computes key j's scores with the two rows (32/T lanes a key, each a share
// of the dimensions, added by shuffles), a simd_max and a simd_sum give the
// rows' new running maximum and sum, and the probabilities go to tp; then
// the value tile replaces the key tile and lane `lane` accumulates
// dimensions lane, lane + 32, ... of both rows' outputs from it. Row r sees
// positions < pos0 + r + 1 + extra (extra is 0; broken.metal's test kernel
// sets 1).
template <typename BK, typename BV>
static inline void attn_prefill(
        constant AttnArgs & args, device const float * q, device const char * k, device const char * v,
        device float * dst, threadgroup float * tq, threadgroup float * tkv, threadgroup float * tp,
        uint3 tgpig, ushort sgitg, ushort tiisg, ushort tiitg, int extra) {
    const int head_dim = args.head_dim;
    const int dim8     = attn_dim8(head_dim);
    const int h        = tgpig.y;
    const int r0       = ATTN_ROWS * tgpig.x;
    const int kv_head  = h / (args.n_heads / args.n_kv_heads);
    const int n_kv     = args.pos0 + min(r0 + ATTN_ROWS, args.n_rows) + extra;
    device const char * kh = attn_head<BK>(k, kv_head, head_dim);
    device const char * vh = attn_head<BV>(v, kv_head, head_dim);
    const ulong k_row = attn_row_bytes<BK>(args.kv_dim);
    const ulong v_row = attn_row_bytes<BV>(args.kv_dim);

    int rows[ATTN_ROWS_PER_SG];  // the simdgroup's rows (in the batch)
    for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
        const int lr = ATTN_ROWS_PER_SG * sgitg + i;
        rows[i] = r0 + lr;
        attn_load_q<BK>(q + ((ulong) rows[i] * args.n_heads + h) * head_dim, rows[i] < args.n_rows, head_dim,
                        tq + lr * dim8, tiisg);
    }

    const int   T     = attn_tile_keys(head_dim);
    const int   j     = tiisg % T;          // the lane's key in a tile
    const int   share = dim8 / (32 / T);    // dimensions per lane of a key
    const int   e0    = share * (tiisg / T);
    const int   S     = dim8 + 4;           // tile row stride
    float2 m = float2(ATTN_NO_SCORE);
    float2 l = float2(0.0f);
    float acc[ATTN_ROWS_PER_SG][ATTN_DIMS_PER_LANE];
    for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
        for (short u = 0; u < ATTN_DIMS_PER_LANE; ++u) {
            acc[i][u] = 0.0f;
        }
    }

    for (int t0 = 0; t0 < n_kv; t0 += T) {
        // The previous tile's value reads are done (and tq is written).
        threadgroup_barrier(mem_flags::mem_threadgroup);
        attn_load_tile<BK>(kh, k_row, head_dim, t0, T, n_kv, tkv, tiitg);
        threadgroup_barrier(mem_flags::mem_threadgroup);

        float2 s = float2(0.0f);
        threadgroup const float4 * kt = (threadgroup const float4 *) (tkv + j * S + e0);
        for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
            threadgroup const float4 * qt = (threadgroup const float4 *) (tq + (ATTN_ROWS_PER_SG * sgitg + i) * dim8 + e0);
            float4 sum = float4(0.0f);
            for (int e = 0; e < share / 4; ++e) {
                sum += qt[e] * kt[e];
            }
            s[i] = (sum.x + sum.y) + (sum.z + sum.w);
        }
        for (ushort o = T; o < 32; o *= 2) {
            s += simd_shuffle_xor(s, o);
        }
        bool seen[ATTN_ROWS_PER_SG];
        for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
            seen[i] = rows[i] < args.n_rows && t0 + j < args.pos0 + rows[i] + 1 + extra;
            s[i]    = seen[i] ? s[i] * args.scale : ATTN_NO_SCORE;
        }
        const float2 m_new = max(m, simd_max(s));
        const float2 alpha = exp(m - m_new);
        float2 p = exp(s - m_new);
        for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
            p[i] = seen[i] ? p[i] : 0.0f;
        }
        l = l * alpha + simd_sum(tiisg < T ? p : float2(0.0f));
        m = m_new;
        if (tiisg < T) {
            for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
                tp[(ATTN_ROWS_PER_SG * sgitg + i) * T + j] = p[i];
            }
        }

        threadgroup_barrier(mem_flags::mem_threadgroup);
        attn_load_tile<BV>(vh, v_row, head_dim, t0, T, n_kv, tkv, tiitg);
        threadgroup_barrier(mem_flags::mem_threadgroup);

        for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
            threadgroup const float * pr = tp + (ATTN_ROWS_PER_SG * sgitg + i) * T;
            for (short u = 0; u < ATTN_DIMS_PER_LANE; ++u) {
                const int d = tiisg + 32 * u;
                if (d < head_dim) {
                    float a = acc[i][u] * alpha[i];
                    for (int jj = 0; jj < T; ++jj) {
                        a += pr[jj] * tkv[jj * S + d];
                    }
                    acc[i][u] = a;
                }
            }
        }
    }

    for (short i = 0; i < ATTN_ROWS_PER_SG; ++i) {
        if (rows[i] < args.n_rows) {
            device float * out = dst + ((ulong) rows[i] * args.n_heads + h) * head_dim;
            const float inv = 1.0f / l[i];
            for (short u = 0; u < ATTN_DIMS_PER_LANE; ++u) {
                const int d = tiisg + 32 * u;
                if (d < head_dim) {
                    out[d] = acc[i][u] * inv;
                }
            }
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
        threadgroup  float    * tq   [[threadgroup(0)]],
        threadgroup  float    * tkv  [[threadgroup(1)]],
        threadgroup  float    * tp   [[threadgroup(2)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    attn_prefill<BK, BV>(args, q, k, v, dst, tq, tkv, tp, tgpig, sgitg, tiisg, tiitg, 0);
}

template <typename BK, typename BV>
kernel void kernel_attn_split(
        constant     AttnArgs & args [[buffer(0)]],
        device const float    * q    [[buffer(1)]],
        device const char     * k    [[buffer(2)]],
        device const char     * v    [[buffer(3)]],
        device       float    * out  [[buffer(4)]],
        threadgroup  float    * tq   [[threadgroup(0)]],
        threadgroup  float    * tacc [[threadgroup(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    attn_decode<BK, BV>(args, q, k, v, out, tq, tacc, tgpig, sgitg, tiisg, tiitg);
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
