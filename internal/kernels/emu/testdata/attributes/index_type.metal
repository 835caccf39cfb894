// A ushort thread index with a uint thread position.
// want: [[thread_index_in_threadgroup]] tiitg is ushort and [[thread_position_in_threadgroup]] tpitg is uint3: MSL requires uint
#include <metal_stdlib>
using namespace metal;

kernel void index_type(
        device float * x [[buffer(0)]],
        uint3  tpitg [[thread_position_in_threadgroup]],
        uint3  ntg   [[threads_per_threadgroup]],
        ushort tiitg [[thread_index_in_threadgroup]]) {
    x[tiitg] = float(tpitg.x + ntg.x);
}
