// quant_args.h — the kernels' constant arguments, bound at [[buffer(0)]]
// (the kernel's buffers follow at 1, 2, ...).
//
// kernels.Source() puts this header first; the emulator includes it. Each
// struct and #define is mirrored by the Go struct or constant of the same
// meaning in internal/kernels/args.go (TestArgsMirrorHeader compares them):
// 4-byte fields only (int32_t, uint32_t, float), so both sides agree without
// padding.
#ifndef QUANT_ARGS_H
#define QUANT_ARGS_H

#include <metal_stdlib>  // int32_t and friends: this header comes first in Source()

// Launch shapes the host and the kernels agree on.
#define QUANT_MV_ROWS_PER_SG   4   // mul_mv: weight rows per simdgroup (float and 32-value block types)
#define QUANT_MV_ROWS_PER_SG_K 2   // mul_mv: weight rows per simdgroup (256-value block types)
#define QUANT_MV_SG            2   // mul_mv, mul_mv_batch: simdgroups per threadgroup (64 threads)
#define QUANT_MV_BATCH         8   // mul_mv_batch: activation rows per threadgroup
#define QUANT_MM_ROWS        64   // mul_mm: an output tile's weight rows
#define QUANT_MM_COLS        32   // mul_mm: an output tile's activation rows
#define QUANT_MM_THREADS     128  // mul_mm: threads per threadgroup (4 simdgroups)
#define QUANT_MM_TG_W        8192 // mul_mm: bytes of threadgroup(0): the weight tile, then the output tile
#define QUANT_MM_TG_X        4096 // mul_mm: bytes of threadgroup(1): the activation tile
#define QUANT_ATTN_CHUNK     256 // attn_split: positions per threadgroup
#define QUANT_ATTN_SG        4   // attn, attn_split: simdgroups per threadgroup
#define QUANT_ATTN_ROWS      8   // attn: query rows per threadgroup (2 per simdgroup)
#define QUANT_ATTN_KEYS      32  // attn: keys per tile (half as many for heads of more than 128 values)

// kernel_get_rows_<type>: dst[i][:] = dequantize(w row ids[i]).
// buffers: 1 w (device const char*), 2 ids (device const int32_t*), 3 dst (float*)
// grid (n_ids, 1, 1), any threadgroup size (64).
struct GetRowsArgs {
    int32_t  ne0;  // values per row
    uint32_t nb1;  // bytes per weight row
};

// kernel_rms_norm: dst = x / sqrt(mean(x^2) + eps) * w over each group of
// ne0 consecutive values (a row, or a head for Q/K norm); w has ne0 values.
// buffers: 1 x, 2 w, 3 dst (may alias x). threadgroup(0): 32 floats.
// grid (n_groups, 1, 1), threadgroup a multiple of 32 up to 1024.
struct RMSNormArgs {
    int32_t ne0;
    float   eps;
};

// kernel_rope_store: the step between a layer's Q/K/V projections and its
// attention, for n_rows rows (row r at position pos0 + r). Every head of q
// (n_heads per row) and of k (n_kv_heads) is RMS-normalised with the
// head_dim weights qn / kn when has_norm (Qwen3's per-head norms:
// x / sqrt(mean(x^2) + eps) * w), then rotated in place: pair i (i <
// n_dims/2) of a head is (x[2i], x[2i+1]), or (x[i], x[i + n_dims/2]) when
// neox; theta = (pos / ff[i]) * freq_scale * freq_base^(-2i/n_dims) (ff = 1
// unless has_ff); dimensions >= n_dims are not rotated. Interleaved
// multimodal RoPE (any sec* non-zero, text positions): pair i does not
// rotate when its sector s = i % (sec0+sec1+sec2+sec3) has s >= 3*sec[s % 3]
// (it reads the e position component, 0 for text). Then each rotated k row
// and each v row is written at row pos0 + r of the layer's caches, in the
// block layout of k_type and v_type (ggml type ids: f32, f16, bf16, q8_0,
// q4_0, q4_1, q5_0, q5_1; a head is whole blocks; a cache row holds
// n_kv_heads*head_dim values).
// buffers: 1 q, 2 k (float*, in/out), 3 v (const float*), 4 ff, 5 qn, 6 kn
// (const float*; bind any buffer when unused), 7 k cache, 8 v cache (char*,
// the layer's first row).
// grid (n_rows, n_heads + 2*n_kv_heads, 1): threadgroup (r, h) handles q
// head h, k head h - n_heads or v head h - n_heads - n_kv_heads of row r;
// threadgroup (32, 1, 1).
struct RopeStoreArgs {
    int32_t head_dim;
    int32_t n_dims;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t pos0;
    float   freq_base;
    float   freq_scale;
    int32_t neox;
    int32_t has_ff;
    int32_t sec0;
    int32_t sec1;
    int32_t sec2;
    int32_t sec3;
    int32_t has_norm;
    float   eps;
    int32_t k_type;
    int32_t v_type;
};

// A weight type's matrix products (kernel_mul_mv_<type>,
// kernel_mul_mv_batch_<type>, kernel_mul_mm_<type>):
// dst[r][o] = sum_i w[o][i] * x[r][i]; w is ne01 rows of ne00 values (nb01
// bytes each), x and dst are ne11 rows of float.
// buffers: 1 w (device const char*), 2 x (const float*), 3 dst (float*).
// mul_mv: grid (ceil(ne01 / (NR*QUANT_MV_SG)), ne11, 1), threadgroup
//         (32*QUANT_MV_SG, 1, 1); NR, the type's weight rows per simdgroup,
//         is QUANT_MV_ROWS_PER_SG_K for the 256-value block types and
//         QUANT_MV_ROWS_PER_SG for the others.
// mul_mv_batch: one weight row per simdgroup for up to QUANT_MV_BATCH
//         activation rows: grid (ceil(ne01/QUANT_MV_SG),
//         ceil(ne11/QUANT_MV_BATCH), 1), threadgroup (32*QUANT_MV_SG, 1, 1).
//         mul_mv and mul_mv_batch read weights and activations in vector
//         loads: the weights' binding offset is a multiple of 4 (the rows of
//         types with blocks of 4k bytes stay 4-byte aligned, the others need
//         2), x rows are 16-byte aligned.
// mul_mm: grid (ceil(ne01/QUANT_MM_ROWS), ceil(ne11/QUANT_MM_COLS), 1),
//         threadgroup (QUANT_MM_THREADS, 1, 1), threadgroup(0) and (1)
//         of QUANT_MM_TG_W and QUANT_MM_TG_X bytes.
struct MatMulArgs {
    int32_t  ne00;
    int32_t  ne01;
    uint32_t nb01;
    int32_t  ne11;
};

// kernel_mul_mv_fused_<type>: one activation row x (ne00 floats) times up to
// three weights of the type (parts: a layer's Q, K and V), in one dispatch,
// with an epilogue:
//   QUANT_MV_STORE:  dst_p[o] = w_p[o] . x
//   QUANT_MV_ADD:    dst_p[o] += w_p[o] . x         (a projection into the residual)
//   QUANT_MV_SWIGLU: dst_0[o] = silu(w_0[o] . x) * (w_1[o] . x), silu(g) = g / (1 + exp(-g))
//                    (the feed-forward's gate and up, which have the same shape; one part)
// Part p has ne01_p rows of nb01_p bytes. Its threadgroups start at tg_p
// (tg_0 = 0; an absent part starts at the grid's end); each computes
// NR*QUANT_MV_SG rows of it, NR as mul_mv's.
// buffers: 1 x (const float*), 2 w_0, 3 dst_0, 4 w_1, 5 dst_1, 6 w_2, 7 dst_2
// (bind another part's for an absent part's); weights bound as mul_mv's.
// grid (tg_1 + ... + the last part's threadgroups, 1, 1), threadgroup
// (32*QUANT_MV_SG, 1, 1).
// kernel_mul_mv_fused_mixed: the same for parts of different types, part
// p's type_p (ggml's type id) choosing its kernel; not QUANT_MV_SWIGLU.
#define QUANT_MV_STORE  0
#define QUANT_MV_ADD    1
#define QUANT_MV_SWIGLU 2
struct FusedMVArgs {
    int32_t  ne00;
    int32_t  op;
    int32_t  ne01_0;
    uint32_t nb01_0;
    int32_t  ne01_1;
    uint32_t nb01_1;
    int32_t  tg_1;
    int32_t  ne01_2;
    uint32_t nb01_2;
    int32_t  tg_2;
    int32_t  type_0;
    int32_t  type_1;
    int32_t  type_2;
};

// Kernels over n values, one thread per value: grid (ceil(n/T), 1, 1),
// threadgroup (T, 1, 1) for any T (the backend uses 256), unless stated.
// kernel_add:          buffers 1 dst (in/out), 2 x:          dst[i] += x[i]
// kernel_swiglu:       buffers 1 gate, 2 up, 3 dst:          dst[i] = silu(gate[i]) * up[i] (dst may alias gate)
// kernel_sigmoid_mul:  buffers 1 dst (in/out), 2 gate:       dst[i] *= sigmoid(gate[i])
// kernel_argmax:       buffers 1 x, 2 out (int32_t*): out[0] = index of the
//                      largest x[i] (lowest index on ties), out[1] = 1 if
//                      some x[i] is NaN or infinite, else 0; grid (1,1,1),
//                      threadgroup (1024,1,1), threadgroup(0): 32 floats,
//                      threadgroup(1) and (2): 32 ints each.
struct ElementwiseArgs {
    int32_t n;
};

// kernel_split_heads: each row of src holds, head after head, width values
// for a then width values for b; a and b (ne0 values per row, n values in
// all) get them head after head: a[r][h*width + e] = src[r][2*h*width + e],
// b[r][h*width + e] = src[r][(2*h+1)*width + e].
// buffers 1 src, 2 a, 3 b; grid (ceil(n/256), 1, 1), threadgroup (256, 1, 1).
struct SplitHeadsArgs {
    int32_t width;
    int32_t ne0;      // values per row of a and b
    int32_t src_ne0;  // values per row of src
    int32_t n;        // values of a
};

// kernel_gated_rms_norm: dst = x / sqrt(mean(x^2) + eps) * w * silu(z) over
// each group of ne0 values; buffers 1 x, 2 w, 3 dst (may alias x), 4 z (laid
// out as x). threadgroup(0): 32 floats; launched as kernel_rms_norm.
// (uses RMSNormArgs)

// kernel_ssm_conv_silu: causal depthwise convolution of n_rows rows of
// channels values, each channel's taps w[c*taps + t] (the last one
// for the current input) sliding over its state (taps-1 previous inputs,
// oldest first) then the rows, followed by SiLU; the state is advanced past
// the rows. buffers 1 x, 2 w, 3 state (in/out, channels*(taps-1) floats),
// 4 dst. taps <= 16. grid (ceil(channels/256), 1, 1), threadgroup (256, 1, 1).
struct ConvArgs {
    int32_t channels;
    int32_t taps;  // per channel
    int32_t n_rows;
};

// kernel_gated_delta_rule: the gated delta rule over n_rows rows, in order.
// x rows hold q (k_heads*state_dim), k (k_heads*state_dim), v
// (v_heads*state_dim); beta and alpha rows v_heads values; a and dt_bias
// v_heads values. Value head h reads q/k head h % k_heads; q and k are
// divided by max(|.|, eps); its state S (element (i, j) at
// state[h*dim*dim + j*dim + i]) becomes S*exp(a*softplus(alpha+dt_bias)),
// then S += k (sigmoid(beta) * (v - S^T k))^T; out = scale * S^T q.
// buffers 1 x, 2 beta, 3 alpha, 4 a, 5 dt_bias, 6 state (in/out), 7 dst
// (n_rows rows of v_heads*state_dim). state_dim <= 256.
// grid (v_heads, ceil(state_dim/T), 1), threadgroup (T, 1, 1), T a multiple
// of 32; threadgroup(0): 2*state_dim floats (q and k), threadgroup(1): 2
// floats per simdgroup.
struct DeltaArgs {
    int32_t k_heads;
    int32_t v_heads;
    int32_t state_dim;
    int32_t n_rows;
    float   eps;
    float   scale;
};

// kernel_add_bias: x[i] += b[i % ne0] for i < n. buffers 1 x (in/out), 2 b.
// grid (ceil(n/256), 1, 1), threadgroup (256, 1, 1).
struct BiasArgs {
    int32_t ne0;
    int32_t n;
};

// Causal attention of n_rows query rows (row r at position pos0 + r sees
// cache positions 0..pos0+r) for every head; head h reads KV head
// h / (n_heads / n_kv_heads). q and dst rows hold n_heads*head_dim floats;
// cache rows hold kv_dim values of the key type <k> and the value type <v>
// (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1; a head is whole blocks).
// out = sum_t softmax_t(scale * q.k_t) * v_t, q rounded to the key type's
// dot-product format as llama.cpp's CPU backend rounds it. head_dim <= 256.
// With D = head_dim rounded up to a multiple of 8:
// kernel_attn_<k>_<v>:         buffers 1 q, 2 k cache, 3 v cache, 4 dst.
//                              grid (ceil(n_rows/QUANT_ATTN_ROWS), n_heads, 1),
//                              threadgroup (32*QUANT_ATTN_SG, 1, 1);
//                              threadgroup(0): QUANT_ATTN_ROWS*D floats,
//                              threadgroup(1): T*(D+4) floats, threadgroup(2):
//                              QUANT_ATTN_ROWS*T floats, T = QUANT_ATTN_KEYS for
//                              head_dim <= 128, else QUANT_ATTN_KEYS/2.
// kernel_attn_split_<k>_<v>:   one decode row (n_rows = 1) split over chunks
//                              of `chunk` positions: buffers 1 q, 2 k, 3 v, 4 out;
//                              grid (n_chunks, n_heads, 1), threadgroup
//                              (32*QUANT_ATTN_SG, 1, 1); threadgroup(0): D floats,
//                              threadgroup(1): QUANT_ATTN_SG*(D+2) floats.
//                              One chunk: out is dst. Several: out is partials,
//                              partials[(h*n_chunks + c)*(head_dim+2) + ...] =
//                              {max score, sum of exp, head_dim unnormalised outputs}.
// kernel_attn_reduce:          buffers 1 partials, 2 dst; grid (n_heads, 1, 1),
//                              threadgroup (32, 1, 1); combines the chunks of each head.
struct AttnArgs {
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t kv_dim;
    int32_t pos0;
    int32_t n_rows;
    float   scale;
    int32_t chunk;
};

#endif
