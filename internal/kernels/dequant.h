// dequant.h — dequantization of ggml weight rows, shared by the kernels.
//
// kernels.Source() inlines this header where a .metal file first includes
// it (a library compiled from a string has no include path); the emulator
// includes it from the .metal files. Everything here is an inline function or
// a struct of static functions, usable from any kernel.
//
// Block layouts follow ggml-common.h; internal/gguf/dequant.go is the Go
// reference of each one. Rows may start at any even byte offset (block sizes
// are even, not multiples of 4), so quantized data is read as bytes and
// halves only.
//
// Every weight type has a struct blk_<type> with
//   QK     values per block (1 for the float types),
//   BYTES  bytes per block,
//   dequant8(row, c, n, v): v[0..7] = values c..c+7 of the row starting at
//          `row`; c is a multiple of 8. n is the row length: the float types
//          give 0 past it; the quantized types ignore it, their rows are
//          whole blocks (so n is a multiple of 32) and c + 8 <= n.
// Eight values starting at a multiple of 8 always share one scale (K-quant
// scales cover 16 or 32 values), so each call reads its scale once.
#ifndef QUANT_DEQUANT_H
#define QUANT_DEQUANT_H

#include <metal_stdlib>
using namespace metal;

// The fp16 at p (2-byte aligned).
inline float dq_half(device const uchar * p) {
    return float(*(device const half *) p);
}

// A bf16 bit pattern widened to float (no MSL bfloat before Metal 3.1).
inline float dq_bf16(ushort b) {
    return as_type<float>(uint(b) << 16);
}

inline float4 dq_bf16x4(ushort4 b) {
    return as_type<float4>(uint4(b) << 16);
}

// Activations multiplied with F16 or BF16 weights are first rounded to the
// weight's precision, as llama.cpp's CPU backend does (and so our CPU
// backend): the GPU then computes the same products and both backends give
// the same perplexity. Quantized weights keep float activations (act = x).
inline float act_f16(float x) { return float(half(x)); }
inline float act_bf16(float x) {
    uint b = as_type<uint>(x);
    b += 0x7fffu + ((b >> 16) & 1u);  // round to nearest even
    return as_type<float>(b & 0xffff0000u);
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, from
// its 12 packed bytes q (ggml's get_scale_min_k4).
inline void dq_scale_min_k4(device const uchar * q, int j, thread float & sc, thread float & mn) {
    if (j < 4) {
        sc = float(q[j] & 63);
        mn = float(q[j + 4] & 63);
    } else {
        sc = float((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        mn = float((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Scale idx (0..15) of a Q3_K block, from its 12 packed bytes q: 6 bits
// stored biased by 32; the low nibble is in byte idx%8 (low nibble for
// idx < 8, high for idx >= 8), the top two bits are bits 2*(idx/4) of byte
// 8 + idx%4.
inline float dq_scale_q3_K(device const uchar * q, int idx) {
    const int lo = (q[idx % 8] >> (4 * (idx / 8))) & 0xF;
    const int hi = (q[8 + idx % 4] >> (2 * (idx / 4))) & 3;
    return float((lo | (hi << 4)) - 32);
}

// ---- float types

struct blk_f32 {
    static float act(float x) { return x; }
    enum { QK = 1, BYTES = 4 };
    static void dequant8(device const char * row, int c, int n, thread float * v) {
        device const float * p = (device const float *) row;
        for (short i = 0; i < 8; ++i) {
            v[i] = c + i < n ? p[c + i] : 0.0f;
        }
    }
};

struct blk_f16 {
    static float act(float x) { return act_f16(x); }
    enum { QK = 1, BYTES = 2 };
    static void dequant8(device const char * row, int c, int n, thread float * v) {
        device const half * p = (device const half *) row;
        for (short i = 0; i < 8; ++i) {
            v[i] = c + i < n ? float(p[c + i]) : 0.0f;
        }
    }
};

struct blk_bf16 {
    static float act(float x) { return act_bf16(x); }
    enum { QK = 1, BYTES = 2 };
    static void dequant8(device const char * row, int c, int n, thread float * v) {
        device const ushort * p = (device const ushort *) row;
        for (short i = 0; i < 8; ++i) {
            v[i] = c + i < n ? dq_bf16(p[c + i]) : 0.0f;
        }
    }
};

// ---- 32-value blocks

// block_q4_0 {d fp16; qs[16]}: value j < 16 is the low nibble of qs[j], value
// j + 16 the high nibble; x = (q - 8) * d.
struct blk_q4_0 {
    static float act(float x) { return x; }
    enum { QK = 32, BYTES = 18 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 32) * BYTES;
        const int j = c % 32;
        const float d = dq_half(b);
        device const uchar * qs = b + 2 + j % 16;
        const int shift = 4 * (j / 16);
        for (short i = 0; i < 8; ++i) {
            v[i] = float(((qs[i] >> shift) & 0xF) - 8) * d;
        }
    }
};

// block_q4_1 {d, m fp16; qs[16]}: nibbles as in Q4_0; x = q * d + m.
struct blk_q4_1 {
    static float act(float x) { return x; }
    enum { QK = 32, BYTES = 20 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 32) * BYTES;
        const int j = c % 32;
        const float d = dq_half(b);
        const float m = dq_half(b + 2);
        device const uchar * qs = b + 4 + j % 16;
        const int shift = 4 * (j / 16);
        for (short i = 0; i < 8; ++i) {
            v[i] = float((qs[i] >> shift) & 0xF) * d + m;
        }
    }
};

// block_q5_0 {d fp16; qh[4]; qs[16]}: nibbles as in Q4_0, bit j of the
// little-endian qh is the fifth bit of value j; x = (q - 16) * d.
struct blk_q5_0 {
    static float act(float x) { return x; }
    enum { QK = 32, BYTES = 22 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 32) * BYTES;
        const int j = c % 32;
        const float d = dq_half(b);
        const int qh = b[2 + j / 8];  // bits j..j+7
        device const uchar * qs = b + 6 + j % 16;
        const int shift = 4 * (j / 16);
        for (short i = 0; i < 8; ++i) {
            const int q = ((qs[i] >> shift) & 0xF) | (((qh >> i) & 1) << 4);
            v[i] = float(q - 16) * d;
        }
    }
};

// block_q5_1 {d, m fp16; qh[4]; qs[16]}: as Q5_0; x = q * d + m.
struct blk_q5_1 {
    static float act(float x) { return x; }
    enum { QK = 32, BYTES = 24 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 32) * BYTES;
        const int j = c % 32;
        const float d = dq_half(b);
        const float m = dq_half(b + 2);
        const int qh = b[4 + j / 8];
        device const uchar * qs = b + 8 + j % 16;
        const int shift = 4 * (j / 16);
        for (short i = 0; i < 8; ++i) {
            const int q = ((qs[i] >> shift) & 0xF) | (((qh >> i) & 1) << 4);
            v[i] = float(q) * d + m;
        }
    }
};

// block_q8_0 {d fp16; qs[32] int8}: x = q * d.
struct blk_q8_0 {
    static float act(float x) { return x; }
    enum { QK = 32, BYTES = 34 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 32) * BYTES;
        const float d = dq_half(b);
        device const int8_t * qs = (device const int8_t *) (b + 2 + c % 32);
        for (short i = 0; i < 8; ++i) {
            v[i] = float(qs[i]) * d;
        }
    }
};

// ---- 256-value blocks (K-quants). In the comments, value v of a block is
// v = 128*n + 32*k + m (half n, group k, position m < 32) for Q2_K, Q3_K and
// Q6_K, and v = 32*s + m (sub-block s) for Q4_K and Q5_K.

// block_q2_K {scales[16]; qs[64]; d, dmin fp16}: the 2-bit q of value v is
// bits 2k..2k+1 of qs[32n + m]; scale byte 8n + 2k + m/16 holds the scale
// (low nibble) and min (high nibble). x = d*sc*q - dmin*mn.
struct blk_q2_K {
    static float act(float x) { return x; }
    enum { QK = 256, BYTES = 84 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 256) * BYTES;
        const int n = (c % 256) / 128, k = (c % 128) / 32, m = c % 32;
        const int sc = b[8 * n + 2 * k + m / 16];
        const float dl = dq_half(b + 80) * float(sc & 0xF);
        const float ml = dq_half(b + 82) * float(sc >> 4);
        device const uchar * qs = b + 16 + 32 * n + m;
        for (short i = 0; i < 8; ++i) {
            v[i] = dl * float((qs[i] >> (2 * k)) & 3) - ml;
        }
    }
};

// block_q3_K {hmask[32]; qs[64]; scales[12]; d fp16}: low two bits as in
// Q2_K (qs at byte 32); the high bit of value v is bit 4n + k of hmask[m],
// and a clear high bit means q - 4. x = d*sc*q, sc = scale 8n + 2k + m/16.
struct blk_q3_K {
    static float act(float x) { return x; }
    enum { QK = 256, BYTES = 110 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 256) * BYTES;
        const int n = (c % 256) / 128, k = (c % 128) / 32, m = c % 32;
        const float dl = dq_half(b + 108) * dq_scale_q3_K(b + 96, 8 * n + 2 * k + m / 16);
        device const uchar * qs = b + 32 + 32 * n + m;
        device const uchar * hm = b + m;
        const int hbit = 4 * n + k;
        for (short i = 0; i < 8; ++i) {
            const int q = ((qs[i] >> (2 * k)) & 3) - (((hm[i] >> hbit) & 1) ? 0 : 4);
            v[i] = dl * float(q);
        }
    }
};

// block_q4_K {d, dmin fp16; scales[12]; qs[128]}: sub-block s uses the low
// (s even) or high (s odd) nibbles of qs[32*(s/2) + m] and the 6-bit scale
// and min s. x = d*sc*q - dmin*mn.
struct blk_q4_K {
    static float act(float x) { return x; }
    enum { QK = 256, BYTES = 144 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 256) * BYTES;
        const int s = (c % 256) / 32, m = c % 32;
        float sc, mn;
        dq_scale_min_k4(b + 4, s, sc, mn);
        const float dl = dq_half(b) * sc;
        const float ml = dq_half(b + 2) * mn;
        device const uchar * qs = b + 16 + 32 * (s / 2) + m;
        const int shift = 4 * (s % 2);
        for (short i = 0; i < 8; ++i) {
            v[i] = dl * float((qs[i] >> shift) & 0xF) - ml;
        }
    }
};

// block_q5_K {d, dmin fp16; scales[12]; qh[32]; qs[128]}: as Q4_K (qs at
// byte 48) with the fifth bit of value v in bit s of qh[m].
struct blk_q5_K {
    static float act(float x) { return x; }
    enum { QK = 256, BYTES = 176 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 256) * BYTES;
        const int s = (c % 256) / 32, m = c % 32;
        float sc, mn;
        dq_scale_min_k4(b + 4, s, sc, mn);
        const float dl = dq_half(b) * sc;
        const float ml = dq_half(b + 2) * mn;
        device const uchar * qs = b + 48 + 32 * (s / 2) + m;
        device const uchar * qh = b + 16 + m;
        const int shift = 4 * (s % 2);
        for (short i = 0; i < 8; ++i) {
            const int q = ((qs[i] >> shift) & 0xF) | (((qh[i] >> s) & 1) << 4);
            v[i] = dl * float(q) - ml;
        }
    }
};

// block_q6_K {ql[128]; qh[64]; scales[16] int8; d fp16}: the low four bits
// of value v are the low (k < 2) or high (k >= 2) nibble of
// ql[64n + 32*(k%2) + m], the top two bits are bits 2k..2k+1 of
// qh[32n + m]; x = d * scale[8n + 2k + m/16] * (q - 32).
struct blk_q6_K {
    static float act(float x) { return x; }
    enum { QK = 256, BYTES = 210 };
    static void dequant8(device const char * row, int c, int, thread float * v) {
        device const uchar * b = (device const uchar *) row + (c / 256) * BYTES;
        const int n = (c % 256) / 128, k = (c % 128) / 32, m = c % 32;
        device const int8_t * scales = (device const int8_t *) (b + 192);
        const float dl = dq_half(b + 208) * float(scales[8 * n + 2 * k + m / 16]);
        device const uchar * ql = b + 64 * n + 32 * (k % 2) + m;
        device const uchar * qh = b + 128 + 32 * n + m;
        const int shift = 4 * (k / 2);
        for (short i = 0; i < 8; ++i) {
            const int q = ((ql[i] >> shift) & 0xF) | (((qh[i] >> (2 * k)) & 3) << 4);
            v[i] = dl * float(q - 32);
        }
    }
};

#endif  // QUANT_DEQUANT_H
