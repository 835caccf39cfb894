#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Rotary position embedding of the heads of q and k, and the KV-cache store
// of k and v: what a layer does between its Q/K/V projections and its
// attention, in one dispatch. One simdgroup (a threadgroup of 32 threads)
// per (row, head): grid (rows, n_heads + 2*n_kv_heads, 1), the heads of q,
// then those of k, then those of v. The built-ins are declared as
// ggml-metal's kernel_rope_norm does, the grid position a three-component
// vector and the thread index a scalar.
//
// A q or k head is first RMS-normalised when has_norm (the scale needs
// every value of the head: one simd_sum), then its lanes stride over the
// n_dims/2 pairs; pair i is (x[2i], x[2i+1]), or (x[i], x[i + n_dims/2]) in
// NeoX order, and dimensions >= n_dims are not rotated (only normalised).
// Each value is read and written by one lane, so the head needs no barrier
// until a k head is stored: then the lanes quantize its blocks from device
// memory, after a threadgroup barrier on it.
//
// The angle of pair i is theta = pos * freq_base^(-2i/n_dims), divided by
// the frequency factor ff[i] when has_ff, times freq_scale. ggml's CPU code
// (and internal/cpu.RopeAngles) builds freq_base^(-2i/n_dims) by repeated
// multiplication; here each pair computes it directly with pow, which is at
// least as accurate: the two agree to about i * 2^-23 relative, so within
// 1e-5 relative of theta for n_dims <= 256. cos and sin are the precise
// versions: fast-math ones lose accuracy for the large angles of late positions.
//
// Interleaved multimodal RoPE (Qwen3.5; sec0..sec3 not all 0) on text, where
// the t, h and w positions are all pos and e is 0: pair i turns by the same
// theta unless its sector s = i % (sec0+sec1+sec2+sec3) reads e, which is
// when s >= 3*sec[s % 3] (engine.Rope.Rotates); such pairs are left as they are.
//
// The stores quantize as the blk_<type>::quantize of dequant.h (ggml's
// quantize_row_<type>_ref), one block per lane at a time; the cache types
// are a runtime choice (the same in every lane), so one kernel serves every
// pair of key and value types.

// ggml's type ids of the KV cache types.
enum rope_cache_type {
    ROPE_F32 = 0, ROPE_F16 = 1, ROPE_Q4_0 = 2, ROPE_Q4_1 = 3, ROPE_Q5_0 = 6, ROPE_Q5_1 = 7, ROPE_Q8_0 = 8,
    ROPE_BF16 = 30,
};

// n values at src (a head, whole blocks of B) into the cache at dst, the
// head's first block.
template <typename B>
static inline void rope_store_blocks(device const float * src, device char * dst, int n, ushort lane) {
    for (int b = lane; b < n / B::QK; b += 32) {
        B::quantize(src + b * B::QK, dst + (ulong) b * B::BYTES);
    }
}

// The head of n values at src into cache row `row` (of kv_dim values) of
// type t, from value `first` of the row on.
static inline void rope_store_head(int t, device const float * src, device char * cache, int row, int kv_dim,
                                   int first, int n, ushort lane) {
    const ulong v0 = (ulong) row * kv_dim + first;  // a multiple of the block size
    switch (t) {
        case ROPE_F32:  rope_store_blocks<blk_f32>(src, cache + v0 / blk_f32::QK * blk_f32::BYTES, n, lane); break;
        case ROPE_F16:  rope_store_blocks<blk_f16>(src, cache + v0 / blk_f16::QK * blk_f16::BYTES, n, lane); break;
        case ROPE_BF16: rope_store_blocks<blk_bf16>(src, cache + v0 / blk_bf16::QK * blk_bf16::BYTES, n, lane); break;
        case ROPE_Q8_0: rope_store_blocks<blk_q8_0>(src, cache + v0 / blk_q8_0::QK * blk_q8_0::BYTES, n, lane); break;
        case ROPE_Q4_0: rope_store_blocks<blk_q4_0>(src, cache + v0 / blk_q4_0::QK * blk_q4_0::BYTES, n, lane); break;
        case ROPE_Q4_1: rope_store_blocks<blk_q4_1>(src, cache + v0 / blk_q4_1::QK * blk_q4_1::BYTES, n, lane); break;
        case ROPE_Q5_0: rope_store_blocks<blk_q5_0>(src, cache + v0 / blk_q5_0::QK * blk_q5_0::BYTES, n, lane); break;
        case ROPE_Q5_1: rope_store_blocks<blk_q5_1>(src, cache + v0 / blk_q5_1::QK * blk_q5_1::BYTES, n, lane); break;
    }
}

// Normalises (when has_norm, with the weights nw) and rotates the head at x, lanes striding.
static inline void rope_head(constant RopeStoreArgs & args, device float * x, device const float * ff,
                             device const float * nw, float pos, ushort lane) {
    const int head_dim = args.head_dim;
    const int n_half   = args.n_dims / 2;
    const int sec_n    = args.sec0 + args.sec1 + args.sec2 + args.sec3;
    const bool norm    = args.has_norm != 0;

    float scale = 1.0f;
    if (norm) {  // uniform: every lane reads the same argument
        float sum = 0.0f;
        for (int d = lane; d < head_dim; d += 32) {
            sum += x[d] * x[d];
        }
        scale = rsqrt(simd_sum(sum) / head_dim + args.eps);
    }

    for (int i = lane; i < n_half; i += 32) {
        const int a = args.neox != 0 ? i : 2 * i;
        const int b = args.neox != 0 ? i + n_half : 2 * i + 1;
        float x0 = x[a];
        float x1 = x[b];
        if (norm) {
            x0 = x0 * scale * nw[a];
            x1 = x1 * scale * nw[b];
        }
        bool turns = true;
        if (sec_n > 0) {
            const int s   = i % sec_n;
            const int sec = s % 3 == 0 ? args.sec0 : (s % 3 == 1 ? args.sec1 : args.sec2);
            turns = s < 3 * sec;
        }
        if (turns) {
            float theta = pos * precise::pow(args.freq_base, float(-2 * i) / float(args.n_dims));
            if (args.has_ff != 0) {
                theta /= ff[i];
            }
            theta *= args.freq_scale;
            const float c = precise::cos(theta);
            const float s = precise::sin(theta);
            const float r0 = x0 * c - x1 * s;
            x1 = x0 * s + x1 * c;
            x0 = r0;
        }
        x[a] = x0;
        x[b] = x1;
    }
    if (norm) {
        for (int d = args.n_dims + lane; d < head_dim; d += 32) {
            x[d] = x[d] * scale * nw[d];
        }
    }
}

kernel void kernel_rope_store(
        constant     RopeStoreArgs & args [[buffer(0)]],
        device       float         * q    [[buffer(1)]],
        device       float         * k    [[buffer(2)]],
        device const float         * v    [[buffer(3)]],
        device const float         * ff   [[buffer(4)]],
        device const float         * qn   [[buffer(5)]],
        device const float         * kn   [[buffer(6)]],
        device       char          * kc   [[buffer(7)]],
        device       char          * vc   [[buffer(8)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    const int head_dim = args.head_dim;
    const int kv_dim   = args.n_kv_heads * head_dim;
    const int row      = tgpig.x;
    const int pos      = args.pos0 + row;
    const int h        = tgpig.y;

    if (h < args.n_heads) {
        device float * x = q + (ulong) row * args.n_heads * head_dim + (ulong) h * head_dim;
        rope_head(args, x, ff, qn, float(pos), tiitg);
        return;
    }
    if (h < args.n_heads + args.n_kv_heads) {
        const int kh = h - args.n_heads;
        device float * x = k + (ulong) row * kv_dim + (ulong) kh * head_dim;
        rope_head(args, x, ff, kn, float(pos), tiitg);
        // Each lane quantizes blocks that other lanes rotated.
        threadgroup_barrier(mem_flags::mem_device);
        rope_store_head(args.k_type, x, kc, pos, kv_dim, kh * head_dim, head_dim, tiitg);
        return;
    }
    const int vh = h - args.n_heads - args.n_kv_heads;
    rope_store_head(args.v_type, v + (ulong) row * kv_dim + (ulong) vh * head_dim, vc, pos, kv_dim, vh * head_dim,
                    head_dim, tiitg);
}
