// kernel_rope as it was: a three-component threadgroup position next to
// scalar thread positions and threadgroup size.
// want: must all be scalars or all vectors of one length
#include <metal_stdlib>
using namespace metal;

kernel void rope_mixed(
        device float * x [[buffer(1)]],
        uint3  tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_position_in_threadgroup]],
        ushort ntg   [[threads_per_threadgroup]]) {
    x[tgpig.x * ntg + tpitg] = 0.0f;
}
