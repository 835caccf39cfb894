#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Matrix x matrix for prompt batches: dst[c][r] = sum_k w[r][k] * x[c][k]
// for every weight type (the shapes of MatMulArgs as in mul_mv.metal), on
// SIMD-group matrices.
//
// Grid (ceil(ne01/64), ceil(ne11/32), 1) threadgroups of 128 threads (4
// simdgroups); each computes a 64x32 tile of the output: weight rows
// r0..r0+63 by activation rows c0..c0+31. It walks the row length in steps
// of 32 values. In each step every thread dequantizes 16 weights (one row,
// 16 consecutive values) into the weight tile and converts 8 activations
// into the activation tile; after a barrier, every simdgroup multiplies
// 32 weight rows by 16 activation rows of the tiles as 8x8 matrices, 4x2
// products per 8 values of the step, accumulated in 8 float matrices.
//
// An output block is C = X W^T: rows are activation rows, columns weight
// rows, so it is stored into dst (activation row after activation row, of
// ne01 values each) as it is. The tiles hold 8x8 blocks, 64 contiguous
// values each, in the layout the products load without transposition:
//   weight tile:      block (weight rows 8i.., values 8j..) at 64 (4i + j),
//                     value k of row r at [8k + r] (W^T);
//   activation tile:  block (activation rows 8i.., values 8j..) at
//                     64 (4i + j), value k of row c at [8c + k] (X).
// Weights are dequantized to half (the element type TW; exact for F16),
// except F32 and BF16, whose values half cannot hold: their tiles are
// float. Activations stay float (TX), except for F16 weights, whose
// activations are rounded to half anyway (B::act). Products accumulate in
// float either way.
//
// Weight rows past ne01 and activation rows past ne11 load as zeros; the
// float types, whose rows need not be multiples of 32, load zeros past
// ne00. A tile with rows past ne01 or ne11 goes through threadgroup memory
// and its threads store the part inside dst; whole tiles are stored by
// the simdgroups straight into dst.

#define MM_R   QUANT_MM_ROWS     // 64
#define MM_C   QUANT_MM_COLS     // 32
#define MM_K   32                // values of a row per step
#define MM_BLK 64                // values of an 8x8 block

template <typename B, typename TW, typename TX>
kernel void kernel_mul_mm(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        threadgroup  char       * shw  [[threadgroup(0)]],
        threadgroup  char       * shx  [[threadgroup(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    threadgroup TW * tw = (threadgroup TW *) shw;
    threadgroup TX * tx = (threadgroup TX *) shx;
    const int ne00 = args.ne00;
    const int ne01 = args.ne01;
    const int ne11 = args.ne11;
    const int r0 = tgpig.x * MM_R;
    const int c0 = tgpig.y * MM_C;

    // Loading: weight row lw, values kw..kw+15 of each step; activation row
    // lx, values kx..kx+7.
    const short lw = tiitg / 2;
    const short kw = 16 * (tiitg % 2);
    const short lx = tiitg / 4;
    const short kx = 8 * (tiitg % 4);
    const bool wok = r0 + lw < ne01;
    const bool xok = c0 + lx < ne11;
    device const char  * wrow = w + (ulong) (wok ? r0 + lw : 0) * args.nb01;
    device const float * xrow = x + (ulong) (xok ? c0 + lx : 0) * ne00;
    threadgroup TW * tw_put = tw + MM_BLK * (4 * (lw / 8)) + lw % 8;
    threadgroup TX * tx_put = tx + MM_BLK * (4 * (lx / 8) + kx / 8) + 8 * (lx % 8);

    // Computing: this simdgroup's weight rows 32 (sgitg % 2).. (4 blocks)
    // and activation rows 16 (sgitg / 2).. (2 blocks).
    const short bw = 4 * (sgitg % 2);
    const short bx = 2 * (sgitg / 2);
    simdgroup_float8x8 acc[8];
    for (short i = 0; i < 8; ++i) {
        acc[i] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }

    for (int k0 = 0; k0 < ne00; k0 += MM_K) {
        // The previous step's products are done with the tiles.
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (short h = 0; h < 2; ++h) {
            float v[8];
            if (wok) {
                B::dequant8(wrow, k0 + kw + 8 * h, ne00, v);
            } else {
                for (short i = 0; i < 8; ++i) {
                    v[i] = 0.0f;
                }
            }
            const short k = kw + 8 * h;
            for (short i = 0; i < 8; ++i) {
                tw_put[MM_BLK * (k / 8) + 8 * i] = (TW) v[i];
            }
        }
        for (short i = 0; i < 8; ++i) {
            const int c = k0 + kx + i;
            tx_put[i] = (TX) (xok && c < ne00 ? B::act(xrow[c]) : 0.0f);
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);

        for (short j = 0; j < MM_K / 8; ++j) {
            simdgroup_matrix<TW, 8, 8> mw[4];
            simdgroup_matrix<TX, 8, 8> mx[2];
            for (short i = 0; i < 4; ++i) {
                simdgroup_load(mw[i], (threadgroup const TW *) tw + MM_BLK * (4 * (bw + i) + j));
            }
            for (short i = 0; i < 2; ++i) {
                simdgroup_load(mx[i], (threadgroup const TX *) tx + MM_BLK * (4 * (bx + i) + j));
            }
            for (short i = 0; i < 8; ++i) {
                simdgroup_multiply_accumulate(acc[i], mx[i / 4], mw[i % 4], acc[i]);
            }
        }
    }

    // acc[i]: activation rows 8 (bx + i/4).., weight rows 8 (bw + i%4)..
    if (r0 + MM_R <= ne01 && c0 + MM_C <= ne11) {
        device float * out = dst + (ulong) c0 * ne01 + r0;
        for (short i = 0; i < 8; ++i) {
            simdgroup_store(acc[i], out + (ulong) 8 * (bx + i / 4) * ne01 + 8 * (bw + i % 4), (ulong) ne01);
        }
        return;
    }
    // A partial tile: through threadgroup(0), 32 rows of 64 floats.
    threadgroup float * out = (threadgroup float *) shw;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (short i = 0; i < 8; ++i) {
        simdgroup_store(acc[i], out + 8 * (bx + i / 4) * MM_R + 8 * (bw + i % 4), MM_R);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (short i = tiitg; i < MM_R * MM_C; i += QUANT_MM_THREADS) {
        const int c = c0 + i / MM_R;
        const int r = r0 + i % MM_R;
        if (c < ne11 && r < ne01) {
            dst[(ulong) c * ne01 + r] = out[i];
        }
    }
}

typedef decltype(kernel_mul_mm<blk_f32, float, float>) mul_mm_t;

// C++ allows no attributes on an explicit instantiation: the emulator skips
// these and instantiates the kernels through its glue instead.
#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_mul_mm_f32")]]  kernel mul_mm_t kernel_mul_mm<blk_f32,  float, float>;
template [[host_name("kernel_mul_mm_f16")]]  kernel mul_mm_t kernel_mul_mm<blk_f16,  half,  half>;
template [[host_name("kernel_mul_mm_bf16")]] kernel mul_mm_t kernel_mul_mm<blk_bf16, float, float>;
template [[host_name("kernel_mul_mm_q4_0")]] kernel mul_mm_t kernel_mul_mm<blk_q4_0, half,  float>;
template [[host_name("kernel_mul_mm_q4_1")]] kernel mul_mm_t kernel_mul_mm<blk_q4_1, half,  float>;
template [[host_name("kernel_mul_mm_q5_0")]] kernel mul_mm_t kernel_mul_mm<blk_q5_0, half,  float>;
template [[host_name("kernel_mul_mm_q5_1")]] kernel mul_mm_t kernel_mul_mm<blk_q5_1, half,  float>;
template [[host_name("kernel_mul_mm_q8_0")]] kernel mul_mm_t kernel_mul_mm<blk_q8_0, half,  float>;
template [[host_name("kernel_mul_mm_q2_K")]] kernel mul_mm_t kernel_mul_mm<blk_q2_K, half,  float>;
template [[host_name("kernel_mul_mm_q3_K")]] kernel mul_mm_t kernel_mul_mm<blk_q3_K, half,  float>;
template [[host_name("kernel_mul_mm_q4_K")]] kernel mul_mm_t kernel_mul_mm<blk_q4_K, half,  float>;
template [[host_name("kernel_mul_mm_q5_K")]] kernel mul_mm_t kernel_mul_mm<blk_q5_K, half,  float>;
template [[host_name("kernel_mul_mm_q6_K")]] kernel mul_mm_t kernel_mul_mm<blk_q6_K, half,  float>;
#endif
