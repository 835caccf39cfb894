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
// The KV-cache types (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1) also have
//   dequant1(row, i): value i of the row (attention reads one value a lane),
//   quantize(x, b):   the QK floats at x into the block at b, as ggml's
//          quantize_row_<type>_ref (cache writes; see "quantization" below).
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

// ggml's fp32 -> bf16: round to nearest even; a NaN stays a (quiet) NaN.
inline ushort f32_to_bf16(float x) {
    const uint u = as_type<uint>(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return ushort((u >> 16) | 64u);
    }
    return ushort((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Activations multiplied with F16 or BF16 weights are first rounded to the
// weight's precision, as llama.cpp's CPU backend does (and so our CPU
// backend): the GPU then computes the same products and both backends give
// the same perplexity. Quantized weights keep float activations (act = x).
inline float act_f16(float x) { return float(half(x)); }
inline float act_bf16(float x) { return dq_bf16(f32_to_bf16(x)); }

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

// ---- quantization (KV-cache writes)
//
// Each quantize(x, b) follows ggml's quantize_row_<type>_ref operation by
// operation, so that a block matches internal/gguf's Quantize byte for byte.
// Products that the reference rounds before adding are stored in a variable
// first: C++ (the emulator) then never fuses them into a multiply-add. Two
// things the Metal compiler may still do under fast math: fuse such a
// product and addition, and divide to within an ulp or two instead of
// correctly rounded (d = max / 127, id = 1 / d). Either changes a value only
// when it lies within an ulp of a rounding boundary, by one quantization step
// (llama.cpp's Metal cache writes share this).

// The value of largest magnitude in x[0..n) (the first on ties), 0 when all
// are zero.
inline float qz_absmax(device const float * x, int n) {
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (fabs(x[j]) > amax) {
            amax = fabs(x[j]);
            vmax = x[j];
        }
    }
    return vmax;
}

// The smallest and the largest value of x[0..n).
inline void qz_minmax(device const float * x, int n, thread float & lo, thread float & hi) {
    lo = FLT_MAX;
    hi = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
}

// ggml's 1/d, 0 for an all-zero block.
inline float qz_inv(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

inline void qz_put_half(device char * b, float x) { *(device half *) b = half(x); }

// The 32-value blocks' 4-bit layout: value j < 16 in the low nibble of
// qs[j], value j + 16 in the high nibble.
inline void qz_put_nibbles(device char * b, thread const int * q) {
    device uchar * qs = (device uchar *) b;
    for (short j = 0; j < 16; ++j) {
        qs[j] = uchar((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    }
}

// Q5's fifth bits: bit j of the little-endian 32-bit qh is bit 4 of value j
// (written a byte at a time: blocks are only 2-byte aligned).
inline void qz_put_qh(device char * b, thread const int * q) {
    device uchar * qh = (device uchar *) b;
    for (short i = 0; i < 4; ++i) {
        int byte = 0;
        for (short j = 0; j < 8; ++j) {
            byte |= ((q[8 * i + j] >> 4) & 1) << j;
        }
        qh[i] = uchar(byte);
    }
}

// Q4_0 and Q5_0 (nmax 8 and 16): d = max / -nmax from the value of largest
// magnitude, which maps to q = 0; q = x / d + nmax, rounded half up and at
// most 2 nmax - 1. Writes d and returns the 32 quants in q.
inline void qz_symmetric(device const float * x, int nmax, device char * b, thread int * q) {
    const float d  = qz_absmax(x, 32) / -float(nmax);
    const float id = qz_inv(d);
    qz_put_half(b, d);
    for (short j = 0; j < 32; ++j) {
        const float s = x[j] * id;
        q[j] = min(2 * nmax - 1, int(s + (float(nmax) + 0.5f)));
    }
}

// Q4_1 and Q5_1 (nmax 15 and 31): d = (max - min) / nmax, q = (x - min) / d
// rounded half up, at most nmax (ggml clamps Q4_1 only; (x - min) / d
// exceeds nmax by a few ulps at most, so the clamp changes no Q5_1 quant).
// Writes d and min and returns the 32 quants in q.
inline void qz_affine(device const float * x, int nmax, device char * b, thread int * q) {
    float lo, hi;
    qz_minmax(x, 32, lo, hi);
    const float d  = (hi - lo) / float(nmax);
    const float id = qz_inv(d);
    qz_put_half(b, d);
    qz_put_half(b + 2, lo);
    for (short j = 0; j < 32; ++j) {
        const float s = (x[j] - lo) * id;
        q[j] = min(nmax, int(s + 0.5f));
    }
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
    static float dequant1(device const char * row, int i) {
        return ((device const float *) row)[i];
    }
    static void quantize(device const float * x, device char * b) {
        *(device float *) b = x[0];
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
    static float dequant1(device const char * row, int i) {
        return float(((device const half *) row)[i]);
    }
    static void quantize(device const float * x, device char * b) {
        qz_put_half(b, x[0]);  // round to nearest even
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
    static float dequant1(device const char * row, int i) {
        return dq_bf16(((device const ushort *) row)[i]);
    }
    static void quantize(device const float * x, device char * b) {
        *(device ushort *) b = f32_to_bf16(x[0]);
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
    static float dequant1(device const char * row, int i) {
        device const uchar * b = (device const uchar *) row + (i / 32) * BYTES;
        const int j = i % 32;
        return float(((b[2 + j % 16] >> (4 * (j / 16))) & 0xF) - 8) * dq_half(b);
    }
    static void quantize(device const float * x, device char * b) {
        int q[32];
        qz_symmetric(x, 8, b, q);
        qz_put_nibbles(b + 2, q);
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
    static float dequant1(device const char * row, int i) {
        device const uchar * b = (device const uchar *) row + (i / 32) * BYTES;
        const int j = i % 32;
        return float((b[4 + j % 16] >> (4 * (j / 16))) & 0xF) * dq_half(b) + dq_half(b + 2);
    }
    static void quantize(device const float * x, device char * b) {
        int q[32];
        qz_affine(x, 15, b, q);
        qz_put_nibbles(b + 4, q);
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
    static float dequant1(device const char * row, int i) {
        device const uchar * b = (device const uchar *) row + (i / 32) * BYTES;
        const int j = i % 32;
        const int q = ((b[6 + j % 16] >> (4 * (j / 16))) & 0xF) | (((b[2 + j / 8] >> (j % 8)) & 1) << 4);
        return float(q - 16) * dq_half(b);
    }
    static void quantize(device const float * x, device char * b) {
        int q[32];
        qz_symmetric(x, 16, b, q);
        qz_put_qh(b + 2, q);
        qz_put_nibbles(b + 6, q);
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
    static float dequant1(device const char * row, int i) {
        device const uchar * b = (device const uchar *) row + (i / 32) * BYTES;
        const int j = i % 32;
        const int q = ((b[8 + j % 16] >> (4 * (j / 16))) & 0xF) | (((b[4 + j / 8] >> (j % 8)) & 1) << 4);
        return float(q) * dq_half(b) + dq_half(b + 2);
    }
    static void quantize(device const float * x, device char * b) {
        int q[32];
        qz_affine(x, 31, b, q);
        qz_put_qh(b + 4, q);
        qz_put_nibbles(b + 8, q);
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
    static float dequant1(device const char * row, int i) {
        device const uchar * b = (device const uchar *) row + (i / 32) * BYTES;
        return float(((device const int8_t *) (b + 2))[i % 32]) * dq_half(b);
    }
    // d = max |x| / 127, q = x / d rounded half away from zero.
    static void quantize(device const float * x, device char * b) {
        const float d  = fabs(qz_absmax(x, 32)) / 127.0f;
        const float id = qz_inv(d);
        qz_put_half(b, d);
        for (short j = 0; j < 32; ++j) {
            b[2 + j] = char(int(round(x[j] * id)));
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
