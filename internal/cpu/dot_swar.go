package cpu

import (
	"encoding/binary"
	"math/bits"
)

// The integer kernels multiply four pairs of small integers with one 64-bit
// multiplication ("SIMD within a register"). Weights are spread into four
// 16-bit lanes in order, W = w0 + w1*2^16 + w2*2^32 + w3*2^48, activations
// into four lanes in reverse order, A = a3 + a2*2^16 + a1*2^32 + a0*2^48.
// In the product W*A mod 2^64 the coefficient of 2^48 is exactly
// w0*a0 + w1*a1 + w2*a2 + w3*a3; the terms of higher powers fall off the
// top, and those of lower powers sum to some L below it. Lane values may be
// negative: the packed words are then just integers whose base-2^16 digits
// borrow, and the identity still holds. Products of several lane pairs can
// be added before the coefficient is read out, as long as the coefficient
// stays within int16 and |L| < 2^47, so that rounding the top 16 bits
// (laneSum) recovers it exactly. Each kernel states the bound it relies on;
// they assume activation quants in [-127, 127], which QuantizeRow
// guarantees (a value of -128 never occurs).
//
// Go has no vector instructions, and this does four multiply-adds in about
// the time a scalar loop does one and a half, which roughly doubles the
// throughput of the 4- to 6-bit kernels.

const (
	lane1  = 0x0001000100010001 // bit 0 of each 16-bit lane
	lane2  = 0x0003000300030003 // bits 0-1
	lane4  = 0x000f000f000f000f // bits 0-3
	lane8  = 0x00ff00ff00ff00ff // bits 0-7
	lane4h = 0x0010001000100010 // bit 4
	lane6h = 0x0030003000300030 // bits 4-5
	flip8  = 0x8080808080808080 // sign bit of each byte
	bias4  = 4 * lane1
	bias8  = 8 * lane1
	bias16 = 16 * lane1
	bias32 = 32 * lane1
	bias   = 128 * lane1
)

// actLanes spreads the int8 activations a[0..7] into lanes, reversed:
// even = (a6, a4, a2, a0) pairs with weight lanes (w0, w2, w4, w6) and
// odd = (a7, a5, a3, a1) with (w1, w3, w5, w7).
//
// Flipping the sign bits turns each int8 into an offset-128 byte; masking it
// into its lane and subtracting 128 per lane gives the signed lane value.
func actLanes(a []byte) (even, odd uint64) {
	x := bits.ReverseBytes64(binary.LittleEndian.Uint64(a)) ^ flip8
	return (x >> 8 & lane8) - bias, (x & lane8) - bias
}

// laneSum reads the coefficient of 2^48 out of a sum of lane products
// (see above): it requires |coefficient| < 2^15 and |L| < 2^47.
func laneSum(t uint64) int32 {
	return int32(int64(t+1<<47) >> 48)
}

// spreadBits moves bits 0, 2, 4, 6 of b (b < 256) to bit 4 of lanes 0..3.
// The four shifted copies of the four bits land on sixteen distinct bit
// positions, so the multiplication never carries.
func spreadBits(b uint32) uint64 {
	const copies = 1<<4 | 1<<18 | 1<<32 | 1<<46
	return uint64(b&0x55) * copies & lane4h
}

// le64 loads 8 bytes little-endian.
func load64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
