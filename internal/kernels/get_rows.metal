#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"
#include "dequant.h"

// Embedding lookup: dst[i][:] = dequantize(row ids[i] of w), ne0 values per
// row, rows nb1 bytes apart. One threadgroup per id (grid (n_ids, 1, 1)),
// any threadgroup size (the backend uses 64): each thread decodes eight
// values at a time with the type's blk_<type>::dequant8 (dequant.h), the
// threads striding over the row.
template <typename B>
kernel void kernel_get_rows(
        constant     GetRowsArgs & args [[buffer(0)]],
        device const char        * w    [[buffer(1)]],
        device const int32_t     * ids  [[buffer(2)]],
        device       float       * dst  [[buffer(3)]],
        uint   tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]]) {
    const int ne0 = args.ne0;
    device const char * src = w + (ulong) ids[tgpig] * args.nb1;
    device float * y = dst + (ulong) tgpig * ne0;
    float v[8];
    for (int c = 8 * tpitg; c < ne0; c += 8 * ntg) {
        B::dequant8(src, c, ne0, v);
        for (int i = 0; i < 8 && c + i < ne0; ++i) {  // float rows may end mid-eight
            y[c + i] = v[i];
        }
    }
}

typedef decltype(kernel_get_rows<blk_f32>) get_rows_t;

// C++ allows no attributes on an explicit instantiation: the emulator skips
// these and instantiates the kernels through its glue instead.
#ifndef EMU_METAL_STDLIB
template [[host_name("kernel_get_rows_f32")]]  kernel get_rows_t kernel_get_rows<blk_f32>;
template [[host_name("kernel_get_rows_f16")]]  kernel get_rows_t kernel_get_rows<blk_f16>;
template [[host_name("kernel_get_rows_bf16")]] kernel get_rows_t kernel_get_rows<blk_bf16>;
template [[host_name("kernel_get_rows_q4_0")]] kernel get_rows_t kernel_get_rows<blk_q4_0>;
template [[host_name("kernel_get_rows_q4_1")]] kernel get_rows_t kernel_get_rows<blk_q4_1>;
template [[host_name("kernel_get_rows_q5_0")]] kernel get_rows_t kernel_get_rows<blk_q5_0>;
template [[host_name("kernel_get_rows_q5_1")]] kernel get_rows_t kernel_get_rows<blk_q5_1>;
template [[host_name("kernel_get_rows_q8_0")]] kernel get_rows_t kernel_get_rows<blk_q8_0>;
template [[host_name("kernel_get_rows_q2_K")]] kernel get_rows_t kernel_get_rows<blk_q2_K>;
template [[host_name("kernel_get_rows_q3_K")]] kernel get_rows_t kernel_get_rows<blk_q3_K>;
template [[host_name("kernel_get_rows_q4_K")]] kernel get_rows_t kernel_get_rows<blk_q4_K>;
template [[host_name("kernel_get_rows_q5_K")]] kernel get_rows_t kernel_get_rows<blk_q5_K>;
template [[host_name("kernel_get_rows_q6_K")]] kernel get_rows_t kernel_get_rows<blk_q6_K>;
#endif
