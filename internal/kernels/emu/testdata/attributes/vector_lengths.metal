// Vector-typed grid inputs of different lengths.
// want: must all be scalars or all vectors of one length
#include <metal_stdlib>
using namespace metal;

kernel void vector_lengths(
        device float * x [[buffer(0)]],
        uint2   tgpig [[threadgroup_position_in_grid]],
        ushort3 ntg   [[threads_per_threadgroup]]) {
    x[tgpig.x * ntg.x] = 0.0f;
}
