#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Matrix x matrix for prompt batches: dst[r][o] = sum_i w[o][i] * x[r][i]
// for every weight type (the shapes of MatMulArgs as in mul_mv.metal).
//
// Grid (ceil(ne01/32), ceil(ne11/32), 1) threadgroups of 128 threads; each
// computes a 32x32 tile of dst: weight rows r0..r0+31 by activation rows
// c0..c0+31. It walks the row length in slices of 32 values: every thread
// dequantizes 8 weights into tile tw (threadgroup(0)) and copies 8
// activations into tile tx (threadgroup(1)), then, after a barrier,
// accumulates a 4x2 micro-tile (weight rows 4*tr.., activation rows 2*tc..)
// in registers. Both tiles are stored k-major (value k of tile row j at
// [32*k + j]) so that a thread reads its four weights and two activations of
// a step as one float4 and one float2. Weight rows past ne01 and activation
// rows past ne11 load as zeros and are not stored; the float types, whose
// rows need not be multiples of 32, load zeros past ne00.
//
// No simdgroup_matrix: the emulator that tests these kernels lacks it.

#define MM_T QUANT_MM_TILE  // 32; the thread mapping below assumes 32 and 128 threads

template <typename B>
kernel void kernel_mul_mm(
        constant     MatMulArgs & args [[buffer(0)]],
        device const char       * w    [[buffer(1)]],
        device const float      * x    [[buffer(2)]],
        device       float      * dst  [[buffer(3)]],
        threadgroup  float      * tw   [[threadgroup(0)]],
        threadgroup  float      * tx   [[threadgroup(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    const int ne00 = args.ne00;
    const int ne01 = args.ne01;
    const int ne11 = args.ne11;
    const int r0 = tgpig.x * MM_T;
    const int c0 = tgpig.y * MM_T;

    // Loading: tile row lr, values lk..lk+7 of each 32-value slice (each
    // simdgroup loads one eighth-column of all 32 rows: conflict-free stores).
    const short lr = tiitg % MM_T;
    const short lk = 8 * (tiitg / MM_T);
    const bool wok = r0 + lr < ne01;
    const bool xok = c0 + lr < ne11;
    device const char  * wrow = w + (ulong) (wok ? r0 + lr : 0) * args.nb01;
    device const float * xrow = x + (ulong) (xok ? c0 + lr : 0) * ne00;

    // Computing: weight rows 4*tr..4*tr+3, activation rows 2*tc, 2*tc+1.
    const short tr = tiitg % 8;
    const short tc = tiitg / 8;
    float4 acc0 = float4(0.0f);
    float4 acc1 = float4(0.0f);

    for (int k0 = 0; k0 < ne00; k0 += MM_T) {
        // The previous step's reads of the tiles are done.
        threadgroup_barrier(mem_flags::mem_threadgroup);
        float v[8];
        if (wok) {
            B::dequant8(wrow, k0 + lk, ne00, v);
        } else {
            for (short i = 0; i < 8; ++i) {
                v[i] = 0.0f;
            }
        }
        for (short i = 0; i < 8; ++i) {
            tw[MM_T * (lk + i) + lr] = v[i];
        }
        for (short i = 0; i < 8; ++i) {
            const int c = k0 + lk + i;
            tx[MM_T * (lk + i) + lr] = xok && c < ne00 ? B::act(xrow[c]) : 0.0f;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);

        for (short k = 0; k < MM_T; ++k) {
            const float4 a = ((threadgroup const float4 *) (tw + MM_T * k))[tr];
            const float2 b = ((threadgroup const float2 *) (tx + MM_T * k))[tc];
            acc0 += a * b.x;
            acc1 += a * b.y;
        }
    }

    const int c = c0 + 2 * tc;
    for (short i = 0; i < 4; ++i) {
        const int r = r0 + 4 * tr + i;
        if (r < ne01) {
            if (c < ne11) {
                dst[(ulong) c * ne01 + r] = acc0[i];
            }
            if (c + 1 < ne11) {
                dst[(ulong) (c + 1) * ne01 + r] = acc1[i];
            }
        }
    }
}

typedef decltype(kernel_mul_mm<blk_f32>) mul_mm_t;

// C++ allows no attributes on an explicit instantiation: the emulator skips
// these and instantiates the kernels through its glue instead.
#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_mul_mm_f32")]]  kernel mul_mm_t kernel_mul_mm<blk_f32>;
template [[host_name("kernel_mul_mm_f16")]]  kernel mul_mm_t kernel_mul_mm<blk_f16>;
template [[host_name("kernel_mul_mm_bf16")]] kernel mul_mm_t kernel_mul_mm<blk_bf16>;
template [[host_name("kernel_mul_mm_q4_0")]] kernel mul_mm_t kernel_mul_mm<blk_q4_0>;
template [[host_name("kernel_mul_mm_q4_1")]] kernel mul_mm_t kernel_mul_mm<blk_q4_1>;
template [[host_name("kernel_mul_mm_q5_0")]] kernel mul_mm_t kernel_mul_mm<blk_q5_0>;
template [[host_name("kernel_mul_mm_q5_1")]] kernel mul_mm_t kernel_mul_mm<blk_q5_1>;
template [[host_name("kernel_mul_mm_q8_0")]] kernel mul_mm_t kernel_mul_mm<blk_q8_0>;
template [[host_name("kernel_mul_mm_q2_K")]] kernel mul_mm_t kernel_mul_mm<blk_q2_K>;
template [[host_name("kernel_mul_mm_q3_K")]] kernel mul_mm_t kernel_mul_mm<blk_q3_K>;
template [[host_name("kernel_mul_mm_q4_K")]] kernel mul_mm_t kernel_mul_mm<blk_q4_K>;
template [[host_name("kernel_mul_mm_q5_K")]] kernel mul_mm_t kernel_mul_mm<blk_q5_K>;
template [[host_name("kernel_mul_mm_q6_K")]] kernel mul_mm_t kernel_mul_mm<blk_q6_K>;
#endif
