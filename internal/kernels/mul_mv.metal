#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Matrix x vector: dst[r][o] = sum_i w[o][i] * x[r][i] for every weight type.
// w: ne01 rows of ne00 values, nb01 bytes apart; x: ne11 rows of ne00 floats;
// dst: ne11 rows of ne01 floats.
//
// kernel_mul_mv_<type>: each simdgroup computes NR weight rows (the type's
// rows per simdgroup, QUANT_MV_ROWS_PER_SG or QUANT_MV_ROWS_PER_SG_K) of one
// activation row. Its lanes split the row into blocks, each lane keeps its
// share of the activations of a block in registers and uses it for every
// weight row, dequantizing the weights inside the dot product, and simd_sum
// combines the lanes. Grid (ceil(ne01 / (NR * S)), ne11, 1), threadgroups of
// 32 * S threads (the backend uses S = QUANT_MV_SG).
//
// kernel_mul_mv_batch_<type>: each simdgroup computes one weight row of up to
// QUANT_MV_BATCH activation rows; each lane reads its share of a weight
// block once and multiplies it with every activation row, so a batch of 2-8
// rows reads the weights once instead of once per row. Grid (ceil(ne01 / S),
// ceil(ne11 / QUANT_MV_BATCH), 1), threadgroups of 32 * S threads.
//
// A simdgroup whose rows lie past ne01, or past ne11, returns; one with
// fewer than its rows left computes those alone (the count is the same for
// all its lanes, so simd_sum stays in uniform control flow) and reads no
// weight byte twice.
//
// Loads. The weights are read in the widest loads their block alignment
// allows. MSL's packed vectors are aligned to their element, so a
// packed_ushort4 is one 8-byte load at a 2-byte boundary and a packed_uint4
// one 16-byte load at a 4-byte boundary, where ushort4 and uint4 would need
// 8 and 16. The weights' binding offset is a multiple of 4 (quant_args.h):
// blocks of 20, 24, 84, 144 and 176 bytes stay 4-byte aligned, the others
// (18, 22, 34, 110, 210) 2-byte aligned. The activations are read as float4
// (x rows are 16-byte aligned). The emulator's load accounting
// (emu.CountLoads, emu/loads_test.go) checks the alignment of each load and
// counts the loads per weight block.
//
// Rows per simdgroup, from the register budget. An Apple GPU core runs its
// full 1024 threads while a thread uses at most 104 16-bit registers (52 of
// 32 bits); above that occupancy falls in steps of 64 threads down to 384
// threads at 256 (as reverse-engineered for the M1 by Asahi Linux). A lane holds its activations of a block for all NR rows:
// 16 floats and 2 sums for the 32-value blocks, 32 floats and 2-4 sums for
// the K-quants. Each row adds an accumulator and, while its loads are in
// flight, the raw block share (2-4 registers for the 32-value blocks, 4-12
// for the K-quants), plus about 8 for addresses and indices.
//   - 32-value blocks: 18 + NR * 5 + 8 = 46 at NR = 4, inside the budget;
//     a block's 128 bytes of activations are read once for four rows of
//     18-34 weight bytes.
//   - K-quants: 36 + NR * 13 + 8 = 70 at NR = 2, some way above it; NR = 4
//     would need about 96 and halve occupancy (a bandwidth-bound kernel needs
//     loads in flight), NR = 1 would read the 1 KiB of activations per block
//     for every 84-210 bytes of weights. Two rows it is.
//   - batch: one weight row, up to 8 accumulators (one per activation row),
//     the block share, and one activation row's share at a time: 8 + 12 + 36
//     + 8 = 64 for the K-quants.
//
// The per-type structs Q give
//   QK, BYTES, NR  values and bytes per block, weight rows per simdgroup,
//   NL             lanes per block (a simdgroup works on 32/NL blocks at once),
//   NY             float4s of activations per lane and block,
//   load_y(y, il, yl, ys)  lane il's activations of the block at y, and the
//                          sums of its runs of values (ys),
//   w_t, load_w(b, il)     lane il's share of the block at b (all its loads),
//   dot(w, il, yl, ys)     lane il's part of the dot product.

// ---- loads

// Eight weight bytes at p (2-byte aligned) as two little-endian words, in
// one load.
inline uint2 mv_load8(device const uchar * p) {
    return as_type<uint2>(ushort4(*(device const packed_ushort4 *) p));
}

// Sixteen weight bytes at p (4-byte aligned) as four words, in one load.
inline uint4 mv_load16(device const uchar * p) {
    return uint4(*(device const packed_uint4 *) p);
}

// Four bytes at p (2-byte aligned) as a word, in one load.
inline uint mv_load4(device const uchar * p) {
    return as_type<uint>(ushort2(*(device const packed_ushort2 *) p));
}

// nruns runs of 4 * n4 activations, run k at p + k * stride, into yl
// (float4s, run after run) and their sums into ys.
inline void mv_load_runs(device const float * p, short stride, short nruns, short n4,
                         thread float4 * yl, thread float * ys) {
    for (short k = 0; k < nruns; ++k) {
        float s = 0.0f;
        for (short t = 0; t < n4; ++t) {
            const float4 v = *(device const float4 *) (p + k * stride + 4 * t);
            yl[k * n4 + t] = v;
            s += v.x + v.y + v.z + v.w;
        }
        ys[k] = s;
    }
}

// The low and the high nibbles of the four bytes of q, as floats.
inline float4 mv_lo4(uint q) { return float4(as_type<uchar4>(q & 0x0F0F0F0Fu)); }
inline float4 mv_hi4(uint q) { return float4(as_type<uchar4>((q >> 4) & 0x0F0F0F0Fu)); }

// Bit i of the low four bits of b moved to bit 4 of byte i: the fifth bits
// of four 5-bit quants.
inline uint mv_bit4(uint b) {
    return ((b & 1u) | ((b & 2u) << 7) | ((b & 4u) << 14) | ((b & 8u) << 21)) << 4;
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

// Whether rows of W can be read four values at a time.
template <typename W>
inline bool mv_vec4(int ne00, uint nb01) {
    return ne00 % 4 == 0 && nb01 % (4 * sizeof(W)) == 0;
}

// mv_float_dots adds the lane's part of the dot products of nr weight rows
// at w (ws values apart) with y into sum, and, when two, those of the rows
// at w2 (the same shape) into sum2: the activations are read once for both.
template <typename W>
inline void mv_float_dots(device const W * w, device const W * w2, bool two, int ws, short nr,
                          device const float * y, int ne00, bool vec4, ushort tiisg,
                          thread float * sum, thread float * sum2) {
    if (vec4) {
        device const float4 * y4 = (device const float4 *) y;
        for (int c = tiisg; c < ne00 / 4; c += 32) {
            const float4 yv = mv_x4(y4[c], w);
            for (short r = 0; r < nr; ++r) {
                sum[r] += dot(mv_w4(w + r * ws + 4 * c), yv);
                if (two) {
                    sum2[r] += dot(mv_w4(w2 + r * ws + 4 * c), yv);
                }
            }
        }
    } else {
        for (int c = tiisg; c < ne00; c += 32) {
            const float yv = mv_x1(y[c], w);
            for (short r = 0; r < nr; ++r) {
                sum[r] += mv_w1(w + r * ws + c) * yv;
                if (two) {
                    sum2[r] += mv_w1(w2 + r * ws + c) * yv;
                }
            }
        }
    }
}

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
    const int r0 = (tgpig.x * nsg + sgitg) * QUANT_MV_ROWS_PER_SG;
    if (r0 >= ne01 || (int) tgpig.y >= args.ne11) {
        return;  // uniform across the simdgroup: r0 does not depend on the lane
    }
    const short nr = min(QUANT_MV_ROWS_PER_SG, ne01 - r0);
    device const float * y = x + (ulong) tgpig.y * ne00;
    device const W * wr = (device const W *) (w + (ulong) r0 * args.nb01);

    float sum[QUANT_MV_ROWS_PER_SG] = { 0.0f };
    mv_float_dots(wr, wr, false, args.nb01 / sizeof(W), nr, y, ne00, mv_vec4<W>(args.ne00, args.nb01), tiisg, sum, sum);
    device float * d = dst + (ulong) tgpig.y * ne01 + r0;
    for (short r = 0; r < nr; ++r) {
        const float s = simd_sum(sum[r]);
        if (tiisg == 0) {
            d[r] = s;
        }
    }
}

template <typename W>
kernel void kernel_mul_mv_batch_float(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne00 = args.ne00;
    const int row = tgpig.x * nsg + sgitg;
    const int j0 = tgpig.y * QUANT_MV_BATCH;
    if (row >= args.ne01 || j0 >= args.ne11) {
        return;  // uniform across the simdgroup
    }
    const short nj = min(QUANT_MV_BATCH, args.ne11 - j0);
    device const float * y = x + (ulong) j0 * ne00;
    device const W * wr = (device const W *) (w + (ulong) row * args.nb01);

    float sum[QUANT_MV_BATCH] = { 0.0f };
    if (mv_vec4<W>(args.ne00, args.nb01)) {
        for (int c = tiisg; c < ne00 / 4; c += 32) {
            const float4 wv = mv_w4(wr + 4 * c);
            for (short j = 0; j < nj; ++j) {
                sum[j] += dot(wv, mv_x4(*(device const float4 *) (y + j * ne00 + 4 * c), wr));
            }
        }
    } else {
        for (int c = tiisg; c < ne00; c += 32) {
            const float wv = mv_w1(wr + c);
            for (short j = 0; j < nj; ++j) {
                sum[j] += wv * mv_x1(y[j * ne00 + c], wr);
            }
        }
    }
    for (short j = 0; j < nj; ++j) {
        const float s = simd_sum(sum[j]);
        if (tiisg == 0) {
            dst[(ulong) (j0 + j) * args.ne01 + row] = s;
        }
    }
}

// ---- quantized weights

// mv_q_dots adds the lane's part of the dot products of nr weight rows at w
// (nb01 bytes apart) with y (nb blocks) into sum, and, when two, those of
// the rows at w2 (the same shape) into sum2: each block of activations is
// read once for every row.
template <typename Q>
inline void mv_q_dots(device const uchar * w, device const uchar * w2, bool two, uint nb01, short nr,
                      device const float * y, int nb, ushort tiisg, thread float * sum, thread float * sum2) {
    const short ix = tiisg / Q::NL;  // first block of this lane
    const short il = tiisg % Q::NL;  // its share of the block
    float4 yl[Q::NY];
    float ys[4];
    for (int ib = ix; ib < nb; ib += 32 / Q::NL) {
        Q::load_y(y + ib * Q::QK, il, yl, ys);
        for (short r = 0; r < nr; ++r) {
            sum[r] += Q::dot(Q::load_w(w + r * nb01 + ib * Q::BYTES, il), il, yl, ys);
            if (two) {
                sum2[r] += Q::dot(Q::load_w(w2 + r * nb01 + ib * Q::BYTES, il), il, yl, ys);
            }
        }
    }
}

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
    const int r0 = (tgpig.x * nsg + sgitg) * Q::NR;
    if (r0 >= ne01 || (int) tgpig.y >= args.ne11) {
        return;  // uniform across the simdgroup
    }
    const short nr = min((int) Q::NR, ne01 - r0);
    device const float * y = x + (ulong) tgpig.y * args.ne00;
    device const uchar * w0 = (device const uchar *) w + (ulong) r0 * args.nb01;

    float sum[Q::NR] = { 0.0f };
    mv_q_dots<Q>(w0, w0, false, args.nb01, nr, y, args.ne00 / Q::QK, tiisg, sum, sum);
    device float * d = dst + (ulong) tgpig.y * ne01 + r0;
    for (short r = 0; r < nr; ++r) {
        const float s = simd_sum(sum[r]);
        if (tiisg == 0) {
            d[r] = s;
        }
    }
}

template <typename Q>
kernel void kernel_mul_mv_batch_q(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int ne00 = args.ne00;
    const int nb = ne00 / Q::QK;
    const int row = tgpig.x * nsg + sgitg;
    const int j0 = tgpig.y * QUANT_MV_BATCH;
    if (row >= args.ne01 || j0 >= args.ne11) {
        return;  // uniform across the simdgroup
    }
    const short nj = min(QUANT_MV_BATCH, args.ne11 - j0);
    const short ix = tiisg / Q::NL;
    const short il = tiisg % Q::NL;
    device const float * y = x + (ulong) j0 * ne00;
    device const uchar * wr = (device const uchar *) w + (ulong) row * args.nb01;

    float4 yl[Q::NY];
    float ys[4];
    float sum[QUANT_MV_BATCH] = { 0.0f };
    for (int ib = ix; ib < nb; ib += 32 / Q::NL) {
        const typename Q::w_t wv = Q::load_w(wr + ib * Q::BYTES, il);
        for (short j = 0; j < nj; ++j) {
            Q::load_y(y + j * ne00 + ib * Q::QK, il, yl, ys);
            sum[j] += Q::dot(wv, il, yl, ys);
        }
    }
    for (short j = 0; j < nj; ++j) {
        const float s = simd_sum(sum[j]);
        if (tiisg == 0) {
            dst[(ulong) (j0 + j) * args.ne01 + row] = s;
        }
    }
}

// 32-value blocks: two lanes per block. For the 4- and 5-bit types lane il
// takes the eight quant bytes 8*il..8*il+7, whose low nibbles are values
// 8*il + i (yl[0..1]) and high nibbles values 16 + 8*il + i (yl[2..3]).
inline void mv_load_y32(device const float * y, short il, thread float4 * yl, thread float * ys) {
    mv_load_runs(y + 8 * il, 16, 2, 2, yl, ys);
}

// sum of lo(q_i)*value i + hi(q_i)*value 16+i over the lane's eight quant
// bytes q, with the fifth bits of the low (hl) and high (hh) nibbles' values
// in bits 0..7 of hl and hh (0 for the 4-bit types).
inline float mv_nibble_dot(uint2 q, uint hl, uint hh, thread const float4 * yl) {
    float acc = 0.0f;
    for (short t = 0; t < 2; ++t) {
        const uint lo = (q[t] & 0x0F0F0F0Fu) | mv_bit4(hl >> (4 * t));
        const uint hi = ((q[t] >> 4) & 0x0F0F0F0Fu) | mv_bit4(hh >> (4 * t));
        acc += dot(float4(as_type<uchar4>(lo)), yl[t]) + dot(float4(as_type<uchar4>(hi)), yl[2 + t]);
    }
    return acc;
}

// block_q4_0 {d; qs[16]}: 2 loads per lane.
struct mv_q4_0 {
    enum { QK = 32, BYTES = 18, NR = QUANT_MV_ROWS_PER_SG, NL = 2, NY = 4 };
    struct w_t { uint2 q; float d; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load8(b + 2 + 8 * il), dq_half(b) };
    }
    static float dot(w_t w, short, thread const float4 * yl, thread const float * ys) {
        return w.d * (mv_nibble_dot(w.q, 0, 0, yl) - 8.0f * (ys[0] + ys[1]));
    }
};

// block_q4_1 {d, m; qs[16]}, 4-byte aligned: 2 loads per lane.
struct mv_q4_1 {
    enum { QK = 32, BYTES = 20, NR = QUANT_MV_ROWS_PER_SG, NL = 2, NY = 4 };
    struct w_t { uint2 q; float2 dm; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load8(b + 4 + 8 * il), float2(*(device const half2 *) b) };
    }
    static float dot(w_t w, short, thread const float4 * yl, thread const float * ys) {
        return w.dm.x * mv_nibble_dot(w.q, 0, 0, yl) + w.dm.y * (ys[0] + ys[1]);
    }
};

// block_q5_0 {d; qh[4]; qs[16]}: 3 loads per lane. Bit j of qh is the fifth
// bit of value j: byte il for the lane's low nibbles, byte 2 + il for its
// high ones.
struct mv_q5_0 {
    enum { QK = 32, BYTES = 22, NR = QUANT_MV_ROWS_PER_SG, NL = 2, NY = 4 };
    struct w_t { uint2 q; uint qh; float d; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load8(b + 6 + 8 * il), mv_load4(b + 2), dq_half(b) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(w.q, w.qh >> (8 * il), w.qh >> (16 + 8 * il), yl);
        return w.d * (acc - 16.0f * (ys[0] + ys[1]));
    }
};

// block_q5_1 {d, m; qh[4]; qs[16]}, 4-byte aligned: 3 loads per lane.
struct mv_q5_1 {
    enum { QK = 32, BYTES = 24, NR = QUANT_MV_ROWS_PER_SG, NL = 2, NY = 4 };
    struct w_t { uint2 q; uint qh; float2 dm; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y32(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load8(b + 8 + 8 * il), *(device const uint *) (b + 4), float2(*(device const half2 *) b) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const float acc = mv_nibble_dot(w.q, w.qh >> (8 * il), w.qh >> (16 + 8 * il), yl);
        return w.dm.x * acc + w.dm.y * (ys[0] + ys[1]);
    }
};

// block_q8_0 {d; qs[32] int8}: lane il takes values 16*il..16*il+15, in 3
// loads.
struct mv_q8_0 {
    enum { QK = 32, BYTES = 34, NR = QUANT_MV_ROWS_PER_SG, NL = 2, NY = 4 };
    struct w_t { uint2 lo, hi; float d; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) {
        mv_load_runs(y + 16 * il, 0, 1, 4, yl, ys);
    }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load8(b + 2 + 16 * il), mv_load8(b + 10 + 16 * il), dq_half(b) };
    }
    static float dot(w_t w, short, thread const float4 * yl, thread const float *) {
        const float acc = metal::dot(float4(as_type<char4>(w.lo.x)), yl[0]) + metal::dot(float4(as_type<char4>(w.lo.y)), yl[1])
                        + metal::dot(float4(as_type<char4>(w.hi.x)), yl[2]) + metal::dot(float4(as_type<char4>(w.hi.y)), yl[3]);
        return w.d * acc;
    }
};

// 256-value blocks: eight lanes per block.
//
// Q2_K, Q3_K and Q6_K (value 128*n + 32*k + m: half n, group k, position m):
// lane il takes, in half n = il/4, positions m0..m0+7 (m0 = 8*(il%4)) of
// the four groups, yl[2k], yl[2k+1] for group k and ys[k] their sum; the
// quants of the four values at one position share their bytes.
inline void mv_load_y256n(device const float * y, short il, thread float4 * yl, thread float * ys) {
    mv_load_runs(y + 128 * (il / 4) + 8 * (il % 4), 32, 4, 2, yl, ys);
}

// Byte i (0..7) of the eight bytes w.
inline uint mv_byte(uint2 w, short i) { return (w[i / 4] >> (8 * (i % 4))) & 0xFFu; }

// block_q2_K {scales[16]; qs[64]; d, dmin}, 4-byte aligned: 3 loads per
// lane (its eight qs bytes, the scale bytes of its half, d and dmin). Scale
// byte 8n + 2k + m0/16: scale in the low, min in the high nibble.
struct mv_q2_K {
    enum { QK = 256, BYTES = 84, NR = QUANT_MV_ROWS_PER_SG_K, NL = 8, NY = 8 };
    struct w_t { uint2 q, sc; float2 dm; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y256n(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        const short n = il / 4, m0 = 8 * (il % 4);
        return w_t{ mv_load8(b + 16 + 32 * n + m0), mv_load8(b + 8 * n), float2(*(device const half2 *) (b + 80)) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const short h = (il % 4) / 2;
        float s = 0.0f, m = 0.0f;
        for (short k = 0; k < 4; ++k) {
            const float acc = metal::dot(float4(as_type<uchar4>((w.q.x >> (2 * k)) & 0x03030303u)), yl[2 * k])
                            + metal::dot(float4(as_type<uchar4>((w.q.y >> (2 * k)) & 0x03030303u)), yl[2 * k + 1]);
            const uint sc = mv_byte(w.sc, 2 * k + h);
            s += float(sc & 0xF) * acc;
            m += float(sc >> 4) * ys[k];
        }
        return w.dm.x * s - w.dm.y * m;
    }
};

// block_q3_K {hmask[32]; qs[64]; scales[12]; d}: 5 loads per lane (qs,
// hmask, the scales in two, d). The high bit of the value at position m of
// group k in half n is bit 4n + k of hmask[m] (clear: q - 4). Scale
// idx = 8n + 2k + m0/16 (6 bits, biased by 32): low nibble of byte idx%8
// (the high one for n = 1), top two bits at 2*(idx/4) of byte 8 + idx%4.
struct mv_q3_K {
    enum { QK = 256, BYTES = 110, NR = QUANT_MV_ROWS_PER_SG_K, NL = 8, NY = 8 };
    struct w_t { uint2 q, hm, lo; uint hi; float d; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y256n(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        const short n = il / 4, m0 = 8 * (il % 4);
        return w_t{ mv_load8(b + 32 + 32 * n + m0), mv_load8(b + m0), mv_load8(b + 96), mv_load4(b + 104), dq_half(b + 108) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const short n = il / 4, h = (il % 4) / 2;
        float s = 0.0f;
        for (short k = 0; k < 4; ++k) {
            const short hb = 4 * n + k;
            const uint q0 = ((w.q.x >> (2 * k)) & 0x03030303u) | (((w.hm.x >> hb) & 0x01010101u) << 2);
            const uint q1 = ((w.q.y >> (2 * k)) & 0x03030303u) | (((w.hm.y >> hb) & 0x01010101u) << 2);
            const float acc = metal::dot(float4(as_type<uchar4>(q0)), yl[2 * k])
                            + metal::dot(float4(as_type<uchar4>(q1)), yl[2 * k + 1]) - 4.0f * ys[k];
            const short i = 2 * k + h;  // idx % 8; idx / 4 = 2n + k/2
            const int sc = int((mv_byte(w.lo, i) >> (4 * n)) & 0xF) | int(((w.hi >> (8 * (i % 4) + 2 * (2 * n + k / 2))) & 3) << 4);
            s += float(sc - 32) * acc;
        }
        return w.d * s;
    }
};

// block_q6_K {ql[128]; qh[64]; scales[16] int8; d}: 5 loads per lane (the
// ql bytes of groups 0/2 and of 1/3, qh, the scales of its half, d). The
// value at position m of group k in half n: low four bits in the low
// (k < 2) or high nibble of ql[64n + 32*(k%2) + m], top two at bits 2k of
// qh[32n + m]; x = d * scale[8n + 2k + m/16] * (q - 32).
struct mv_q6_K {
    enum { QK = 256, BYTES = 210, NR = QUANT_MV_ROWS_PER_SG_K, NL = 8, NY = 8 };
    struct w_t { uint2 ql0, ql1, qh, sc; float d; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y256n(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        const short n = il / 4, m0 = 8 * (il % 4);
        return w_t{ mv_load8(b + 64 * n + m0), mv_load8(b + 64 * n + 32 + m0), mv_load8(b + 128 + 32 * n + m0),
                    mv_load8(b + 192 + 8 * n), dq_half(b + 208) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const short h = (il % 4) / 2;
        float s = 0.0f;
        for (short k = 0; k < 4; ++k) {
            const uint2 ql = k % 2 == 0 ? w.ql0 : w.ql1;
            float acc = -32.0f * ys[k];
            for (short t = 0; t < 2; ++t) {
                const uint q = ((ql[t] >> (4 * (k / 2))) & 0x0F0F0F0Fu) | (((w.qh[t] >> (2 * k)) & 0x03030303u) << 4);
                acc += metal::dot(float4(as_type<uchar4>(q)), yl[2 * k + t]);
            }
            s += float(as_type<char4>(w.sc[k / 2])[2 * (k % 2) + h]) * acc;
        }
        return w.d * s;
    }
};

// Q4_K and Q5_K (value 32*s + m: sub-block s, position m): lane il takes
// positions 16*(il%2)..+15 of sub-blocks 2c and 2c+1 (c = il/2), yl[0..3]
// and yl[4..7], ys[0..1] their sums; those are the low and high nibbles of
// the same 16 quant bytes.
inline void mv_load_y256s(device const float * y, short il, thread float4 * yl, thread float * ys) {
    mv_load_runs(y + 64 * (il / 2) + 16 * (il % 2), 32, 2, 4, yl, ys);
}

// The 6-bit scales (sc) and mins (mn) of sub-blocks 2c and 2c+1 from the
// first 16 bytes of a Q4_K/Q5_K block {d, dmin; scales[12]} (h.x = d, dmin),
// without branches: scales[0..3] and [4..7] hold scales and mins 0..3 in
// their low six bits; scales[8..11] hold the low four bits of scales (low
// nibble) and mins (high nibble) 4..7, whose top two bits are the top bits
// of scales[0..3] and [4..7] (ggml's get_scale_min_k4, four at a time).
inline void mv_scale_min_k4(uint4 h, short c, thread float2 & sc, thread float2 & mn) {
    const uint s = c < 2 ? (h.y & 0x3F3F3F3Fu) : ((h.w & 0x0F0F0F0Fu) | ((h.y >> 2) & 0x30303030u));
    const uint m = c < 2 ? (h.z & 0x3F3F3F3Fu) : (((h.w >> 4) & 0x0F0F0F0Fu) | ((h.z >> 2) & 0x30303030u));
    const short shift = 16 * (c % 2);
    sc = float2(as_type<uchar4>(s >> shift).xy);
    mn = float2(as_type<uchar4>(m >> shift).xy);
}

// d * (sc.x * qa.ya + sc.y * qb.yb) - dmin * (mn.x * sum ya + mn.y * sum yb)
// for the lane's quants qa (sub-block 2c) and qb (2c+1), 16 each, one byte
// per quant, four bytes a word.
inline float mv_dot_k4(uint4 h, short c, uint4 qa, uint4 qb, thread const float4 * yl, thread const float * ys) {
    float2 sc, mn;
    mv_scale_min_k4(h, c, sc, mn);
    float acc_a = 0.0f, acc_b = 0.0f;
    for (short t = 0; t < 4; ++t) {
        acc_a += dot(float4(as_type<uchar4>(qa[t])), yl[t]);
        acc_b += dot(float4(as_type<uchar4>(qb[t])), yl[4 + t]);
    }
    const float2 dm = float2(as_type<half2>(h.x));
    return dm.x * (sc.x * acc_a + sc.y * acc_b) - dm.y * (mn.x * ys[0] + mn.y * ys[1]);
}

// block_q4_K {d, dmin; scales[12]; qs[128]}, 4-byte aligned: 2 loads per
// lane (the first 16 bytes, its 16 qs bytes). Sub-block s uses the low
// (s even) or high nibbles of qs[32*(s/2) + m].
struct mv_q4_K {
    enum { QK = 256, BYTES = 144, NR = QUANT_MV_ROWS_PER_SG_K, NL = 8, NY = 8 };
    struct w_t { uint4 h, q; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y256s(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load16(b), mv_load16(b + 16 + 32 * (il / 2) + 16 * (il % 2)) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        return mv_dot_k4(w.h, il / 2, w.q & 0x0F0F0F0Fu, (w.q >> 4) & 0x0F0F0F0Fu, yl, ys);
    }
};

// block_q5_K {d, dmin; scales[12]; qh[32]; qs[128]}, 4-byte aligned: 3
// loads per lane (the first 16 bytes, its 16 qh and 16 qs bytes). As Q4_K
// (qs at byte 48), the fifth bit of value 32s + m in bit s of qh[m].
struct mv_q5_K {
    enum { QK = 256, BYTES = 176, NR = QUANT_MV_ROWS_PER_SG_K, NL = 8, NY = 8 };
    struct w_t { uint4 h, q, qh; };
    static void load_y(device const float * y, short il, thread float4 * yl, thread float * ys) { mv_load_y256s(y, il, yl, ys); }
    static w_t load_w(device const uchar * b, short il) {
        return w_t{ mv_load16(b), mv_load16(b + 48 + 32 * (il / 2) + 16 * (il % 2)), mv_load16(b + 16 + 16 * (il % 2)) };
    }
    static float dot(w_t w, short il, thread const float4 * yl, thread const float * ys) {
        const short c = il / 2;
        const uint4 qa = (w.q & 0x0F0F0F0Fu) | (((w.qh >> (2 * c)) & 0x01010101u) << 4);
        const uint4 qb = ((w.q >> 4) & 0x0F0F0F0Fu) | (((w.qh >> (2 * c + 1)) & 0x01010101u) << 4);
        return mv_dot_k4(w.h, c, qa, qb, yl, ys);
    }
};

// ---- fused mat-vec (kernel_mul_mv_fused_<type>, FusedMVArgs): one
// activation row times the parts' weights, the part chosen by the
// threadgroup (uniform), the rows of a simdgroup computed as mul_mv's, then
// the epilogue. In QUANT_MV_SWIGLU the simdgroup computes its rows of w_0
// (gate) and of w_1 (up) from one read of the activations.

// mv_part is the part a threadgroup works on: its weight rows, where they
// go, and the part's first threadgroup.
struct mv_part {
    device const char * w;
    device float * dst;
    int ne01;
    uint nb01;
    int tg0;
};

inline mv_part mv_fused_part(constant FusedMVArgs & args, int tg,
                             device const char * w0, device float * d0,
                             device const char * w1, device float * d1,
                             device const char * w2, device float * d2) {
    if (tg >= args.tg_2) {
        return mv_part{ w2, d2, args.ne01_2, args.nb01_2, args.tg_2 };
    }
    if (tg >= args.tg_1) {
        return mv_part{ w1, d1, args.ne01_1, args.nb01_1, args.tg_1 };
    }
    return mv_part{ w0, d0, args.ne01_0, args.nb01_0, 0 };
}

// mv_fused_store finishes nr rows at d: the lanes' sums (and, for SwiGLU,
// those of the up rows) reduced, then stored or added by lane 0.
inline void mv_fused_store(int op, device float * d, short nr, thread const float * sum, thread const float * up,
                           ushort tiisg) {
    for (short r = 0; r < nr; ++r) {
        float s = simd_sum(sum[r]);
        if (op == QUANT_MV_SWIGLU) {  // uniform: an argument
            s = s / (1.0f + exp(-s)) * simd_sum(up[r]);
        }
        if (tiisg == 0) {
            d[r] = op == QUANT_MV_ADD ? d[r] + s : s;
        }
    }
}

// The rows of part p that simdgroup sgitg of threadgroup tg computes, for
// the float and the quantized types.
template <typename W>
inline void mv_fused_float(constant FusedMVArgs & args, mv_part p, device const float * x, device const char * w1,
                           int tg, ushort sgitg, ushort tiisg, ushort nsg) {
    const int r0 = ((tg - p.tg0) * nsg + sgitg) * QUANT_MV_ROWS_PER_SG;
    if (r0 >= p.ne01) {
        return;  // uniform across the simdgroup
    }
    const short nr = min(QUANT_MV_ROWS_PER_SG, p.ne01 - r0);
    const bool glu = args.op == QUANT_MV_SWIGLU;
    float sum[QUANT_MV_ROWS_PER_SG] = { 0.0f };
    float up[QUANT_MV_ROWS_PER_SG]  = { 0.0f };
    mv_float_dots((device const W *) (p.w + (ulong) r0 * p.nb01), (device const W *) (w1 + (ulong) r0 * p.nb01), glu,
                  p.nb01 / sizeof(W), nr, x, args.ne00, mv_vec4<W>(args.ne00, p.nb01), tiisg, sum, up);
    mv_fused_store(args.op, p.dst + r0, nr, sum, up, tiisg);
}

template <typename Q>
inline void mv_fused_q(constant FusedMVArgs & args, mv_part p, device const float * x, device const char * w1,
                       int tg, ushort sgitg, ushort tiisg, ushort nsg) {
    const int r0 = ((tg - p.tg0) * nsg + sgitg) * Q::NR;
    if (r0 >= p.ne01) {
        return;  // uniform across the simdgroup
    }
    const short nr = min((int) Q::NR, p.ne01 - r0);
    const bool glu = args.op == QUANT_MV_SWIGLU;
    float sum[Q::NR] = { 0.0f };
    float up[Q::NR]  = { 0.0f };
    mv_q_dots<Q>((device const uchar *) p.w + (ulong) r0 * p.nb01, (device const uchar *) w1 + (ulong) r0 * p.nb01, glu,
                 p.nb01, nr, x, args.ne00 / Q::QK, tiisg, sum, up);
    mv_fused_store(args.op, p.dst + r0, nr, sum, up, tiisg);
}

template <typename W>
kernel void kernel_mul_mv_fused_float(
        constant     FusedMVArgs & args [[buffer(0)]],
        device const float       * x    [[buffer(1)]],
        device const char        * w0   [[buffer(2)]],
        device       float       * d0   [[buffer(3)]],
        device const char        * w1   [[buffer(4)]],
        device       float       * d1   [[buffer(5)]],
        device const char        * w2   [[buffer(6)]],
        device       float       * d2   [[buffer(7)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    mv_fused_float<W>(args, mv_fused_part(args, tgpig.x, w0, d0, w1, d1, w2, d2), x, w1, tgpig.x, sgitg, tiisg, nsg);
}

template <typename Q>
kernel void kernel_mul_mv_fused_q(
        constant     FusedMVArgs & args [[buffer(0)]],
        device const float       * x    [[buffer(1)]],
        device const char        * w0   [[buffer(2)]],
        device       float       * d0   [[buffer(3)]],
        device const char        * w1   [[buffer(4)]],
        device       float       * d1   [[buffer(5)]],
        device const char        * w2   [[buffer(6)]],
        device       float       * d2   [[buffer(7)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    mv_fused_q<Q>(args, mv_fused_part(args, tgpig.x, w0, d0, w1, d1, w2, d2), x, w1, tgpig.x, sgitg, tiisg, nsg);
}

// kernel_mul_mv_fused_mixed: parts of different weight types (type_p, ggml
// type ids), for the layers whose Q, K and V are not all of one type (a
// Q4_K_M file's V is Q6_K in some layers): the part's type, the same for
// the whole threadgroup, picks the loop. Every type's code is in the
// kernel, so it takes the registers of the largest; the backend uses it
// only where the types differ. QUANT_MV_SWIGLU is not supported (gate and
// up share a type).
kernel void kernel_mul_mv_fused_mixed(
        constant     FusedMVArgs & args [[buffer(0)]],
        device const float       * x    [[buffer(1)]],
        device const char        * w0   [[buffer(2)]],
        device       float       * d0   [[buffer(3)]],
        device const char        * w1   [[buffer(4)]],
        device       float       * d1   [[buffer(5)]],
        device const char        * w2   [[buffer(6)]],
        device       float       * d2   [[buffer(7)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort nsg   [[simdgroups_per_threadgroup]]) {
    const int tg = tgpig.x;
    const mv_part p = mv_fused_part(args, tg, w0, d0, w1, d1, w2, d2);
    const int type = tg >= args.tg_2 ? args.type_2 : (tg >= args.tg_1 ? args.type_1 : args.type_0);
    switch (type) {  // ggml's type ids
        case 0:  mv_fused_float<float>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 1:  mv_fused_float<half>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 30: mv_fused_float<ushort>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 2:  mv_fused_q<mv_q4_0>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 3:  mv_fused_q<mv_q4_1>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 6:  mv_fused_q<mv_q5_0>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 7:  mv_fused_q<mv_q5_1>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 8:  mv_fused_q<mv_q8_0>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 10: mv_fused_q<mv_q2_K>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 11: mv_fused_q<mv_q3_K>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 12: mv_fused_q<mv_q4_K>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 13: mv_fused_q<mv_q5_K>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
        case 14: mv_fused_q<mv_q6_K>(args, p, x, w1, tg, sgitg, tiisg, nsg); break;
    }
}

// ---- host names

typedef decltype(kernel_mul_mv_float<float>) mul_mv_t;
typedef decltype(kernel_mul_mv_fused_float<float>) mul_mv_fused_t;

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

template [[host_name("kernel_mul_mv_batch_f32")]]  kernel mul_mv_t kernel_mul_mv_batch_float<float>;
template [[host_name("kernel_mul_mv_batch_f16")]]  kernel mul_mv_t kernel_mul_mv_batch_float<half>;
template [[host_name("kernel_mul_mv_batch_bf16")]] kernel mul_mv_t kernel_mul_mv_batch_float<ushort>;
template [[host_name("kernel_mul_mv_batch_q4_0")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q4_0>;
template [[host_name("kernel_mul_mv_batch_q4_1")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q4_1>;
template [[host_name("kernel_mul_mv_batch_q5_0")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q5_0>;
template [[host_name("kernel_mul_mv_batch_q5_1")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q5_1>;
template [[host_name("kernel_mul_mv_batch_q8_0")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q8_0>;
template [[host_name("kernel_mul_mv_batch_q2_K")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q2_K>;
template [[host_name("kernel_mul_mv_batch_q3_K")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q3_K>;
template [[host_name("kernel_mul_mv_batch_q4_K")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q4_K>;
template [[host_name("kernel_mul_mv_batch_q5_K")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q5_K>;
template [[host_name("kernel_mul_mv_batch_q6_K")]] kernel mul_mv_t kernel_mul_mv_batch_q<mv_q6_K>;

template [[host_name("kernel_mul_mv_fused_f32")]]  kernel mul_mv_fused_t kernel_mul_mv_fused_float<float>;
template [[host_name("kernel_mul_mv_fused_f16")]]  kernel mul_mv_fused_t kernel_mul_mv_fused_float<half>;
template [[host_name("kernel_mul_mv_fused_bf16")]] kernel mul_mv_fused_t kernel_mul_mv_fused_float<ushort>;
template [[host_name("kernel_mul_mv_fused_q4_0")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q4_0>;
template [[host_name("kernel_mul_mv_fused_q4_1")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q4_1>;
template [[host_name("kernel_mul_mv_fused_q5_0")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q5_0>;
template [[host_name("kernel_mul_mv_fused_q5_1")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q5_1>;
template [[host_name("kernel_mul_mv_fused_q8_0")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q8_0>;
template [[host_name("kernel_mul_mv_fused_q2_K")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q2_K>;
template [[host_name("kernel_mul_mv_fused_q3_K")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q3_K>;
template [[host_name("kernel_mul_mv_fused_q4_K")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q4_K>;
template [[host_name("kernel_mul_mv_fused_q5_K")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q5_K>;
template [[host_name("kernel_mul_mv_fused_q6_K")]] kernel mul_mv_fused_t kernel_mul_mv_fused_q<mv_q6_K>;
#endif
