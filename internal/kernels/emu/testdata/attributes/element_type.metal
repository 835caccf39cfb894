// A grid position of a type MSL does not allow.
// want: [[thread_position_in_grid]] tpig is int: MSL allows ushort, ushort2, ushort3, uint, uint2, uint3
#include <metal_stdlib>
using namespace metal;

kernel void element_type(
        device float * x [[buffer(0)]],
        int tpig [[thread_position_in_grid]]) {
    x[tpig] = 0.0f;
}
