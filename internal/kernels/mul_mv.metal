#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Matrix x vector: dst[r][o] = sum_i w[o][i] * x[r][i] for every weight type.
// w: ne01 rows of ne00 values, nb01 bytes apart; x: ne11 rows of ne00 floats;
// dst: ne11 rows of ne01 floats.
//
// Grid (ceil(ne01 / (QUANT_MV_ROWS_PER_SG * S)), ne11, 1) threadgroups of 32*S
// threads (the backend uses S = QUANT_MV_SG). Each simdgroup computes
// QUANT_MV_ROWS_PER_SG weight rows of one activation row: its lanes split the
// row length, each lane keeps its activations in registers and reuses them
// for every weight row, dequantizing the weights inside the dot product, and
// simd_sum combines the lanes. A simdgroup whose last rows lie past ne01
// computes them on the last real row (uniform control flow for simd_sum) and
// discards them.

#define MV_NR QUANT_MV_ROWS_PER_SG

// Sums each row's lane partials and writes the rows below ne01.
inline void mv_store(thread const float * sum, device float * d, int r0, int ne01, ushort tiisg) {
    for (short r = 0; r < MV_NR; ++r) {
        const float s = simd_sum(sum[r]);
        if (tiisg == 0 && r0 + r < ne01) {
            d[r0 + r] = s;
        }
    }
}

// ---- float weights (f32, f16, bf16): lanes stride over the row four values
// at a time (one at a time when rows are not 4-value aligned).

inline float4 mv_w4(device const float  * p) { return *(device const float4 *) p; }
inline float4 mv_w4(device const half   * p) { return float4(*(device const half4 *) p); }
inline float4 mv_w4(device const ushort * p) { return dq_bf16x4(*(device const ushort4 *) p); }
inline float  mv_w1(device const float  * p) { return *p; }
inline float  mv_w1(device const half   * p) { return float(*p); }
inline float  mv_w1(device const ushort * p) { return dq_bf16(*p); }
// Activations rounded to the weight's precision (see act_f16 in dequant.h);
// the weight pointer only selects the overload.
inline float4 mv_x4(float4 y, device const float  *) { return y; }
inline float4 mv_x4(float4 y, device const half   *) { return float4(half4(y)); }
inline float4 mv_x4(float4 y, device const ushort *) {
    return float4(act_bf16(y.x), act_bf16(y.y), act_bf16(y.z), act_bf16(y.w));
}
inline float  mv_x1(float y, device const float  *) { return y; }
inline float  mv_x1(float y, device const half   *) { return act_f16(y); }
inline float  mv_x1(float y, device const ushort *) { return act_bf16(y); }

template <typename W>
kernel void kernel_mul_mv_float(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne00 = args.ne00;
    const int ne01 = args.ne01;
    const int r0 = (tgpig.x * nsg + sgitg) * MV_NR;
    if (r0 >= ne01 || (int) tgpig.y >= args.ne11) {
        return;  // uniform across the simdgroup: r0 does not depend on the lane
    }
    device const float * y = x + (ulong) tgpig.y * ne00;
    device const W * wr[MV_NR];
    for (short r = 0; r < MV_NR; ++r) {
        wr[r] = (device const W *) (w + (ulong) min(r0 + r, ne01 - 1) * args.nb01);
    }

    float sum[MV_NR] = { 0.0f };
    if (ne00 % 4 == 0 && args.nb01 % (4 * sizeof(W)) == 0) {
        device const float4 * y4 = (device const float4 *) y;
        for (int c = tiisg; c < ne00 / 4; c += 32) {
            const float4 yv = mv_x4(y4[c], wr[0]);
            for (short r = 0; r < MV_NR; ++r) {
                sum[r] += dot(mv_w4(wr[r] + 4 * c), yv);
            }
        }
    } else {
        for (int c = tiisg; c < ne00; c += 32) {
            const float yv = mv_x1(y[c], wr[0]);
            for (short r = 0; r < MV_NR; ++r) {
                sum[r] += mv_w1(wr[r] + c) * yv;
            }
        }
    }
    mv_store(sum, dst + (ulong) tgpig.y * ne01, r0, ne01, tiisg);
}

// ---- quantized weights. Q is a struct of
//   QK, BYTES   values and bytes per block,
//   NL          lanes per block (a simdgroup works on 32/NL blocks at once),
//   NY          activations per lane and block,
//   load_y(y, il, yl, ys)  lane il's NY activations of the block at y, and
//                          the sums of its groups of 8 (ys[0..NY/8-1]),
//   dot(b, il, yl, ys)     lane il's part of the dot product with block b.

template <typename Q>
kernel void kernel_mul_mv_q(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne01 = args.ne01;
    const int nb = args.ne00 / Q::QK;
    const int r0 = (tgpig.x * nsg + sgitg) * MV_NR;
    if (r0 >= ne01 || (int) tgpig.y >= args.ne11) {
        return;  // uniform across the simdgroup
    }
    const short ix = tiisg / Q::NL;  // first block of this lane
    const short il = tiisg % Q::NL;  // part of the block
    device const float * y = x + (ulong) tgpig.y * args.ne00;
    device const uchar * wr[MV_NR];
    for (short r = 0; r < MV_NR; ++r) {
        wr[r] = (device const uchar *) w + (ulong) min(r0 + r, ne01 - 1) * args.nb01;
    }

    float yl[Q::NY];
    float ys[Q::NY / 8];
    float sum[MV_NR] = { 0.0f };
    for (int ib = ix; ib < nb; ib += 32 / Q::NL) {
        Q::load_y(y + ib * Q::QK, il, yl, ys);
        for (short r = 0; r < MV_NR; ++r) {
            sum[r] += Q::dot(wr[r] + ib * Q::BYTES, il, yl, ys);
        }
    }
    mv_store(sum, dst + (ulong) tgpig.y * ne01, r0, ne01, tiisg);
}

// 32-value blocks: two lanes per block; lane il takes values 8*il..8*il+7
// (yl[0..7]) and 16+8*il..16+8*il+7 (yl[8..15]), which for the 4- and 5-bit
// types are the low and high nibbles of the same eight qs bytes.
inline void mv_load_y32(device const float * y, short il, thread float * yl, thread float * ys) {
    ys[0] = 0.0f;
    ys[1] = 0.0f;
    for (short i = 0; i < 8; ++i) {
        yl[i]     = y[8 * il + i];
        yl[8 + i] = y[16 + 8 * il + i];
        ys[0] += yl[i];
        ys[1] += yl[8 + i];
    }
}

// sum_i lo(q_i)*yl[i] + hi(q_i)*yl[8+i] over the eight nibble pairs at qs
// (2-byte aligned), plus the fifth bits of qh_lo/qh_hi (bit i for value i)
// when Q5.
inline float mv_nibble_dot(device const uchar * qs, int qh_lo, int qh_hi, thread const float * yl) {
    device const ushort * q2 = (device const ushort *) qs;
    float acc = 0.0f;
    for (short j = 0; j < 4; ++j) {
        const int q = q2[j];
        const short i = 2 * j;
        acc += float((q & 0xF)         | (((qh_lo >> i) & 1) << 4))       * yl[i]
             + float(((q >> 4) & 0xF)  | (((qh_hi >> i) & 1) << 4))       * yl[8 + i]
             + float(((q >> 8) & 0xF)  | (((qh_lo >> (i + 1)) & 1) << 4)) * yl[i + 1]
             + float((q >> 12)         | (((qh_hi >> (i + 1)) & 1) << 4)) * yl[9 + i];
    }
    return acc;
}

struct mv_q4_0 {
    enum { QK = 32, BYTES = 18, NL = 2, NY = 16 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(b + 2 + 8 * il, 0, 0, yl);
        return dq_half(b) * (acc - 8.0f * (ys[0] + ys[1]));
    }
};

struct mv_q4_1 {
    enum { QK = 32, BYTES = 20, NL = 2, NY = 16 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(b + 4 + 8 * il, 0, 0, yl);
        return dq_half(b) * acc + dq_half(b + 2) * (ys[0] + ys[1]);
    }
};

struct mv_q5_0 {
    enum { QK = 32, BYTES = 22, NL = 2, NY = 16 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(b + 6 + 8 * il, b[2 + il], b[4 + il], yl);
        return dq_half(b) * (acc - 16.0f * (ys[0] + ys[1]));
    }
};

struct mv_q5_1 {
    enum { QK = 32, BYTES = 24, NL = 2, NY = 16 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(b + 8 + 8 * il, b[4 + il], b[6 + il], yl);
        return dq_half(b) * acc + dq_half(b + 2) * (ys[0] + ys[1]);
    }
};

struct mv_q8_0 {
    enum { QK = 32, BYTES = 34, NL = 2, NY = 16 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float *) {
        device const int8_t * qs = (device const int8_t *) (b + 2 + 8 * il);
        float acc = 0.0f;
        for (short i = 0; i < 8; ++i) {
            acc += float(qs[i]) * yl[i] + float(qs[16 + i]) * yl[8 + i];
        }
        return dq_half(b) * acc;
    }
};

// 256-value blocks: eight lanes per block; lane il takes, in half
// hf = il/4 of the block, positions l0..l0+7 (l0 = 8*(il%4)) of each of its
// four groups of 32: values 128*hf + 32*k + l0 + i are yl[8*k + i], and
// ys[k] is their sum. For Q2_K, Q3_K and Q6_K the four values at position i
// come from the same quant bytes; for Q4_K and Q5_K group k is sub-block
// 4*hf + k.
inline void mv_load_y256(device const float * y, short il, thread float * yl, thread float * ys) {
    device const float * p = y + 128 * (il / 4) + 8 * (il % 4);
    for (short k = 0; k < 4; ++k) {
        ys[k] = 0.0f;
        for (short i = 0; i < 8; ++i) {
            yl[8 * k + i] = p[32 * k + i];
            ys[k] += yl[8 * k + i];
        }
    }
}

struct mv_q2_K {
    enum { QK = 256, BYTES = 84, NL = 8, NY = 32 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y256(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const short hf = il / 4, l0 = 8 * (il % 4);
        device const uchar * qs = b + 16 + 32 * hf + l0;
        float acc[4] = { 0.0f };
        for (short i = 0; i < 8; ++i) {
            const int q = qs[i];
            acc[0] += float(q & 3)        * yl[i];
            acc[1] += float((q >> 2) & 3) * yl[8 + i];
            acc[2] += float((q >> 4) & 3) * yl[16 + i];
            acc[3] += float(q >> 6)       * yl[24 + i];
        }
        device const uchar * sc = b + 8 * hf + l0 / 16;
        float s = 0.0f, m = 0.0f;
        for (short k = 0; k < 4; ++k) {
            const int scb = sc[2 * k];
            s += float(scb & 0xF) * acc[k];
            m += float(scb >> 4) * ys[k];
        }
        return dq_half(b + 80) * s - dq_half(b + 82) * m;
    }
};

struct mv_q3_K {
    enum { QK = 256, BYTES = 110, NL = 8, NY = 32 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y256(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float *) {
        const short hf = il / 4, l0 = 8 * (il % 4);
        device const uchar * qs = b + 32 + 32 * hf + l0;
        device const uchar * hm = b + l0;
        float acc[4] = { 0.0f };
        for (short i = 0; i < 8; ++i) {
            const int q = qs[i];
            const int h = hm[i] >> (4 * hf);  // bit k: high bit of group k
            acc[0] += float((q & 3)        - ((h & 1) ? 0 : 4)) * yl[i];
            acc[1] += float(((q >> 2) & 3) - ((h & 2) ? 0 : 4)) * yl[8 + i];
            acc[2] += float(((q >> 4) & 3) - ((h & 4) ? 0 : 4)) * yl[16 + i];
            acc[3] += float((q >> 6)       - ((h & 8) ? 0 : 4)) * yl[24 + i];
        }
        float s = 0.0f;
        for (short k = 0; k < 4; ++k) {
            s += dq_scale_q3_K(b + 96, 8 * hf + 2 * k + l0 / 16) * acc[k];
        }
        return dq_half(b + 108) * s;
    }
};

struct mv_q4_K {
    enum { QK = 256, BYTES = 144, NL = 8, NY = 32 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y256(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const short hf = il / 4, l0 = 8 * (il % 4);
        device const uchar * qa = b + 16 + 64 * hf + l0;  // sub-blocks 4hf, 4hf+1
        device const uchar * qb = qa + 32;                // sub-blocks 4hf+2, 4hf+3
        float acc[4] = { 0.0f };
        for (short i = 0; i < 8; ++i) {
            const int a = qa[i], c = qb[i];
            acc[0] += float(a & 0xF) * yl[i];
            acc[1] += float(a >> 4)  * yl[8 + i];
            acc[2] += float(c & 0xF) * yl[16 + i];
            acc[3] += float(c >> 4)  * yl[24 + i];
        }
        float s = 0.0f, m = 0.0f;
        for (short k = 0; k < 4; ++k) {
            float sc, mn;
            dq_scale_min_k4(b + 4, 4 * hf + k, sc, mn);
            s += sc * acc[k];
            m += mn * ys[k];
        }
        return dq_half(b) * s - dq_half(b + 2) * m;
    }
};

struct mv_q5_K {
    enum { QK = 256, BYTES = 176, NL = 8, NY = 32 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y256(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const short hf = il / 4, l0 = 8 * (il % 4);
        device const uchar * qa = b + 48 + 64 * hf + l0;
        device const uchar * qb = qa + 32;
        device const uchar * qh = b + 16 + l0;
        float acc[4] = { 0.0f };
        for (short i = 0; i < 8; ++i) {
            const int a = qa[i], c = qb[i];
            const int h = qh[i] >> (4 * hf);  // bit k: fifth bit of sub-block 4hf+k
            acc[0] += float((a & 0xF) | ((h & 1) << 4)) * yl[i];
            acc[1] += float((a >> 4)  | ((h & 2) << 3)) * yl[8 + i];
            acc[2] += float((c & 0xF) | ((h & 4) << 2)) * yl[16 + i];
            acc[3] += float((c >> 4)  | ((h & 8) << 1)) * yl[24 + i];
        }
        float s = 0.0f, m = 0.0f;
        for (short k = 0; k < 4; ++k) {
            float sc, mn;
            dq_scale_min_k4(b + 4, 4 * hf + k, sc, mn);
            s += sc * acc[k];
            m += mn * ys[k];
        }
        return dq_half(b) * s - dq_half(b + 2) * m;
    }
};

struct mv_q6_K {
    enum { QK = 256, BYTES = 210, NL = 8, NY = 32 };
    static void load_y(device const float * y, short il, thread float * yl, thread float * ys) { mv_load_y256(y, il, yl, ys); }
    static float dot(device const uchar * b, short il, thread const float * yl, thread const float * ys) {
        const short hf = il / 4, l0 = 8 * (il % 4);
        device const uchar * qa = b + 64 * hf + l0;         // groups 0 (low) and 2 (high nibbles)
        device const uchar * qb = qa + 32;                  // groups 1 and 3
        device const uchar * qh = b + 128 + 32 * hf + l0;   // bit pairs of groups 0..3
        float acc[4] = { 0.0f };
        for (short i = 0; i < 8; ++i) {
            const int a = qa[i], c = qb[i], h = qh[i];
            acc[0] += float((a & 0xF) | ((h & 0x03) << 4)) * yl[i];
            acc[1] += float((c & 0xF) | ((h & 0x0C) << 2)) * yl[8 + i];
            acc[2] += float((a >> 4)  | ((h & 0x30)))      * yl[16 + i];
            acc[3] += float((c >> 4)  | ((h & 0xC0) >> 2)) * yl[24 + i];
        }
        device const int8_t * sc = (device const int8_t *) (b + 192 + 8 * hf + l0 / 16);
        float s = 0.0f;
        for (short k = 0; k < 4; ++k) {
            s += float(sc[2 * k]) * (acc[k] - 32.0f * ys[k]);
        }
        return dq_half(b + 208) * s;
    }
};

// ---- host names

typedef decltype(kernel_mul_mv_float<float>) mul_mv_t;

// C++ allows no attributes on an explicit instantiation: the emulator skips
// these and instantiates the kernels through its glue instead.
#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_mul_mv_f32")]]  kernel mul_mv_t kernel_mul_mv_float<float>;
template [[host_name("kernel_mul_mv_f16")]]  kernel mul_mv_t kernel_mul_mv_float<half>;
template [[host_name("kernel_mul_mv_bf16")]] kernel mul_mv_t kernel_mul_mv_float<ushort>;
template [[host_name("kernel_mul_mv_q4_0")]] kernel mul_mv_t kernel_mul_mv_q<mv_q4_0>;
template [[host_name("kernel_mul_mv_q4_1")]] kernel mul_mv_t kernel_mul_mv_q<mv_q4_1>;
template [[host_name("kernel_mul_mv_q5_0")]] kernel mul_mv_t kernel_mul_mv_q<mv_q5_0>;
template [[host_name("kernel_mul_mv_q5_1")]] kernel mul_mv_t kernel_mul_mv_q<mv_q5_1>;
template [[host_name("kernel_mul_mv_q8_0")]] kernel mul_mv_t kernel_mul_mv_q<mv_q8_0>;
template [[host_name("kernel_mul_mv_q2_K")]] kernel mul_mv_t kernel_mul_mv_q<mv_q2_K>;
template [[host_name("kernel_mul_mv_q3_K")]] kernel mul_mv_t kernel_mul_mv_q<mv_q3_K>;
template [[host_name("kernel_mul_mv_q4_K")]] kernel mul_mv_t kernel_mul_mv_q<mv_q4_K>;
template [[host_name("kernel_mul_mv_q5_K")]] kernel mul_mv_t kernel_mul_mv_q<mv_q5_K>;
template [[host_name("kernel_mul_mv_q6_K")]] kernel mul_mv_t kernel_mul_mv_q<mv_q6_K>;
#endif
