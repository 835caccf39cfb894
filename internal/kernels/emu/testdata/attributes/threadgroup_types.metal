// [[thread_position_in_threadgroup]] and [[threads_per_threadgroup]] of
// different types.
// want: [[thread_position_in_threadgroup]] tpitg is ushort2 and [[threads_per_threadgroup]] ntg is uint2: MSL requires the same type
#include <metal_stdlib>
using namespace metal;

kernel void threadgroup_types(
        device float * x [[buffer(0)]],
        ushort2 tpitg [[thread_position_in_threadgroup]],
        uint2   ntg   [[threads_per_threadgroup]]) {
    x[tpitg.y * ntg.x + tpitg.x] = 0.0f;
}
