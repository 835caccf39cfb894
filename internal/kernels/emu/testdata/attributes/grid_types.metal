// [[thread_position_in_grid]] and [[threads_per_grid]] of different types.
// want: [[thread_position_in_grid]] tpig is uint and [[threads_per_grid]] tpg is ushort: MSL requires the same type
#include <metal_stdlib>
using namespace metal;

kernel void grid_types(
        device float * x [[buffer(0)]],
        uint   tpig [[thread_position_in_grid]],
        ushort tpg  [[threads_per_grid]]) {
    x[tpig] = float(tpg);
}
