package cpu

import (
	"encoding/binary"

	"github.com/quant-llm/quant/internal/gguf"
)

// Kernels for the K-quants (256-value super-blocks, ggml-common.h
// block_q2_K ... block_q6_K) against Q8_K activations, following
// ggml_vec_dot_q*_K_q8_K_generic in ggml/src/ggml-cpu/quants.c: per
// super-block an exact integer sum of scale * (q . a) over the sub-blocks,
// then float32 d*isum (minus dmin * sum of min * bsum for the types with
// mins).

// q8KScale is the fp32 scale d of a Q8_K block.
func q8KScale(y *[gguf.BlockQ8_K]byte) float32 { return loadF32(y[q8KDOff:]) }

// bsum returns Q8_K bsums[j].
func bsum(y *[gguf.BlockQ8_K]byte, j int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(y[q8KBOff+2*j:])))
}

// scalesQ4K unpacks the twelve bytes of 6-bit scales and mins of a Q4_K or
// Q5_K block into eight scales and eight mins, one per byte (ggml's utmp
// shuffle): values 0-3 sit in the low 6 bits of bytes 0-3 (scales) and 4-7
// (mins); values 4-7 take their low 4 bits from bytes 8-11 and their high 2
// bits from the top of bytes 0-3 and 4-7.
func scalesQ4K(s []byte) (scales, mins uint64) {
	const k1, k2, k3 = 0x3f3f3f3f, 0x0f0f0f0f, 0x03030303
	u0 := binary.LittleEndian.Uint32(s[0:])
	u1 := binary.LittleEndian.Uint32(s[4:])
	u2 := binary.LittleEndian.Uint32(s[8:])
	sc := uint64(u0&k1) | uint64(u2&k2|(u0>>6&k3)<<4)<<32
	mn := uint64(u1&k1) | uint64(u2>>4&k2|(u1>>6&k3)<<4)<<32
	return sc, mn
}

// minsTerm is sum_j bsums[2j]+bsums[2j+1] times min j: the offset part of a
// Q4_K / Q5_K block, whose mins apply to 32 values.
func minsTerm(y *[gguf.BlockQ8_K]byte, mins uint64) int32 {
	var s int32
	for j := range 8 {
		s += int32(mins>>(8*j)&0xff) * (bsum(y, 2*j) + bsum(y, 2*j+1))
	}
	return s
}

func vecDotQ4K(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ4_K, n, gguf.QK_K, gguf.BlockQ4_K, gguf.BlockQ8_K, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ4_K]byte)(w[i*gguf.BlockQ4_K:])
		y := (*[gguf.BlockQ8_K]byte)(a[i*gguf.BlockQ8_K:])
		scales, mins := scalesQ4K(x[4:16])
		var isum int32
		// Each 32 bytes of nibbles hold 64 values: the low nibbles
		// one sub-block, the high nibbles the next. Weights in [0, 15]:
		// 16 products sum to at most 30480 per lane sum.
		for j := range 4 {
			q := (*[32]byte)(x[16+32*j:])
			b := (*[64]byte)(y[q8KQOff+64*j:])
			x0, x1, x2, x3 := load64(q[0:]), load64(q[8:]), load64(q[16:]), load64(q[24:])
			e0, o0 := actLanes(b[0:])
			e1, o1 := actLanes(b[8:])
			e2, o2 := actLanes(b[16:])
			e3, o3 := actLanes(b[24:])
			e4, o4 := actLanes(b[32:])
			e5, o5 := actLanes(b[40:])
			e6, o6 := actLanes(b[48:])
			e7, o7 := actLanes(b[56:])
			lo0 := (x0&lane4)*e0 + (x0>>8&lane4)*o0 + (x1&lane4)*e1 + (x1>>8&lane4)*o1
			lo1 := (x2&lane4)*e2 + (x2>>8&lane4)*o2 + (x3&lane4)*e3 + (x3>>8&lane4)*o3
			hi0 := (x0>>4&lane4)*e4 + (x0>>12&lane4)*o4 + (x1>>4&lane4)*e5 + (x1>>12&lane4)*o5
			hi1 := (x2>>4&lane4)*e6 + (x2>>12&lane4)*o6 + (x3>>4&lane4)*e7 + (x3>>12&lane4)*o7
			isum += int32(scales>>(16*j)&0xff)*(laneSum(lo0)+laneSum(lo1)) +
				int32(scales>>(16*j+8)&0xff)*(laneSum(hi0)+laneSum(hi1))
		}
		yd := q8KScale(y)
		sum += loadF16(x[0:])*yd*float32(isum) - loadF16(x[2:])*yd*float32(minsTerm(y, mins))
	}
	return sum
}

func vecDotQ5K(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ5_K, n, gguf.QK_K, gguf.BlockQ5_K, gguf.BlockQ8_K, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ5_K]byte)(w[i*gguf.BlockQ5_K:])
		y := (*[gguf.BlockQ8_K]byte)(a[i*gguf.BlockQ8_K:])
		scales, mins := scalesQ4K(x[4:16])
		qh := (*[32]byte)(x[16:])
		h0, h1, h2, h3 := load64(qh[0:]), load64(qh[8:]), load64(qh[16:]), load64(qh[24:])
		var isum int32
		// As Q4_K, plus a fifth bit per value: bit 2j of qh[l] for the
		// low nibble of byte l of chunk j, bit 2j+1 for the high one.
		// Weights in [0, 31]: 8 products sum to at most 31496.
		for j := range 4 {
			q := (*[32]byte)(x[48+32*j:])
			b := (*[64]byte)(y[q8KQOff+64*j:])
			s := uint(2 * j)
			g0, g1, g2, g3 := h0>>s, h1>>s, h2>>s, h3>>s // bits of chunk j now at bits 0 and 1
			x0, x1, x2, x3 := load64(q[0:]), load64(q[8:]), load64(q[16:]), load64(q[24:])
			e0, o0 := actLanes(b[0:])
			e1, o1 := actLanes(b[8:])
			e2, o2 := actLanes(b[16:])
			e3, o3 := actLanes(b[24:])
			e4, o4 := actLanes(b[32:])
			e5, o5 := actLanes(b[40:])
			e6, o6 := actLanes(b[48:])
			e7, o7 := actLanes(b[56:])
			lo := laneSum((x0&lane4|g0<<4&lane4h)*e0+(x0>>8&lane4|g0>>4&lane4h)*o0) +
				laneSum((x1&lane4|g1<<4&lane4h)*e1+(x1>>8&lane4|g1>>4&lane4h)*o1) +
				laneSum((x2&lane4|g2<<4&lane4h)*e2+(x2>>8&lane4|g2>>4&lane4h)*o2) +
				laneSum((x3&lane4|g3<<4&lane4h)*e3+(x3>>8&lane4|g3>>4&lane4h)*o3)
			hi := laneSum((x0>>4&lane4|g0<<3&lane4h)*e4+(x0>>12&lane4|g0>>5&lane4h)*o4) +
				laneSum((x1>>4&lane4|g1<<3&lane4h)*e5+(x1>>12&lane4|g1>>5&lane4h)*o5) +
				laneSum((x2>>4&lane4|g2<<3&lane4h)*e6+(x2>>12&lane4|g2>>5&lane4h)*o6) +
				laneSum((x3>>4&lane4|g3<<3&lane4h)*e7+(x3>>12&lane4|g3>>5&lane4h)*o7)
			isum += int32(scales>>(16*j)&0xff)*lo + int32(scales>>(16*j+8)&0xff)*hi
		}
		yd := q8KScale(y)
		sum += loadF16(x[0:])*yd*float32(isum) - loadF16(x[2:])*yd*float32(minsTerm(y, mins))
	}
	return sum
}

func vecDotQ6K(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ6_K, n, gguf.QK_K, gguf.BlockQ6_K, gguf.BlockQ8_K, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ6_K]byte)(w[i*gguf.BlockQ6_K:])
		y := (*[gguf.BlockQ8_K]byte)(a[i*gguf.BlockQ8_K:])
		var isum int32
		// Each half of the block holds 128 values: value 32g+l (g = 0..3,
		// l = 0..31) is the low (g < 2) or high (g >= 2) nibble of
		// ql[l] (g even) or ql[l+32] (g odd), with bits 2g, 2g+1 of qh[l]
		// on top, minus 32. Weights in [-32, 31]: 8 products sum to at
		// most 32512. Scales are int8, one per 16 values.
		for h := range 2 {
			ql := (*[64]byte)(x[64*h:])
			qh := (*[32]byte)(x[128+32*h:])
			sc := (*[8]byte)(x[192+8*h:])
			b := (*[128]byte)(y[q8KQOff+128*h:])
			for p := range 2 {
				var s0, s1, s2, s3 int32
				for l := 16 * p; l < 16*p+16; l += 8 {
					x0, x1, hb := load64(ql[l:]), load64(ql[l+32:]), load64(qh[l:])
					e0, o0 := actLanes(b[l:])
					e1, o1 := actLanes(b[l+32:])
					e2, o2 := actLanes(b[l+64:])
					e3, o3 := actLanes(b[l+96:])
					s0 += laneSum((x0&lane4|hb<<4&lane6h-bias32)*e0 + (x0>>8&lane4|hb>>4&lane6h-bias32)*o0)
					s1 += laneSum((x1&lane4|hb<<2&lane6h-bias32)*e1 + (x1>>8&lane4|hb>>6&lane6h-bias32)*o1)
					s2 += laneSum((x0>>4&lane4|hb&lane6h-bias32)*e2 + (x0>>12&lane4|hb>>8&lane6h-bias32)*o2)
					s3 += laneSum((x1>>4&lane4|hb>>2&lane6h-bias32)*e3 + (x1>>12&lane4|hb>>10&lane6h-bias32)*o3)
				}
				isum += int32(int8(sc[p]))*s0 + int32(int8(sc[2+p]))*s1 +
					int32(int8(sc[4+p]))*s2 + int32(int8(sc[6+p]))*s3
			}
		}
		sum += loadF16(x[208:]) * q8KScale(y) * float32(isum)
	}
	return sum
}

func vecDotQ2K(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ2_K, n, gguf.QK_K, gguf.BlockQ2_K, gguf.BlockQ8_K, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ2_K]byte)(w[i*gguf.BlockQ2_K:])
		y := (*[gguf.BlockQ8_K]byte)(a[i*gguf.BlockQ8_K:])
		sc := (*[16]byte)(x[0:])
		// Each byte of sc is a 4-bit scale (low) and a 4-bit min (high)
		// for 16 values.
		var summs int32
		for j := range 16 {
			summs += int32(sc[j]>>4) * bsum(y, j)
		}
		// Value 128k+32j+l is bits 2j, 2j+1 of qs[32k+l]. Weights in
		// [0, 3]: the 16 products per scale sum to at most 6096.
		var isum int32
		for k := range 2 {
			q := (*[32]byte)(x[16+32*k:])
			x0, x1, x2, x3 := load64(q[0:]), load64(q[8:]), load64(q[16:]), load64(q[24:])
			for j := range 4 {
				b := (*[32]byte)(y[q8KQOff+128*k+32*j:])
				s := uint(2 * j)
				e0, o0 := actLanes(b[0:])
				e1, o1 := actLanes(b[8:])
				e2, o2 := actLanes(b[16:])
				e3, o3 := actLanes(b[24:])
				t0 := (x0>>s&lane2)*e0 + (x0>>(s+8)&lane2)*o0 + (x1>>s&lane2)*e1 + (x1>>(s+8)&lane2)*o1
				t1 := (x2>>s&lane2)*e2 + (x2>>(s+8)&lane2)*o2 + (x3>>s&lane2)*e3 + (x3>>(s+8)&lane2)*o3
				is := 8*k + 2*j
				isum += int32(sc[is]&0xf)*laneSum(t0) + int32(sc[is+1]&0xf)*laneSum(t1)
			}
		}
		yd := q8KScale(y)
		sum += yd*loadF16(x[80:])*float32(isum) - yd*loadF16(x[82:])*float32(summs)
	}
	return sum
}

// scalesQ3K unpacks the twelve bytes of 6-bit Q3_K scales into sixteen
// bytes (ggml's aux shuffle): low 4 bits from bytes 0-7 (value j in the low
// nibble of byte j for j < 8, the high nibble of byte j-8 otherwise), high
// 2 bits from bytes 8-11. The scales are these values minus 32.
func scalesQ3K(s []byte, out *[16]int8) {
	const k1, k2 = 0x03030303, 0x0f0f0f0f
	a0 := binary.LittleEndian.Uint32(s[0:])
	a1 := binary.LittleEndian.Uint32(s[4:])
	t := binary.LittleEndian.Uint32(s[8:])
	u := [4]uint32{
		a0&k2 | (t>>0&k1)<<4,
		a1&k2 | (t>>2&k1)<<4,
		a0>>4&k2 | (t>>4&k1)<<4,
		a1>>4&k2 | (t>>6&k1)<<4,
	}
	for j := range 16 {
		out[j] = int8(u[j/4]>>(8*(j%4))) - 32
	}
}

func vecDotQ3K(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ3_K, n, gguf.QK_K, gguf.BlockQ3_K, gguf.BlockQ8_K, w, a)
	var sum float32
	var scales [16]int8
	for i := range nb {
		x := (*[gguf.BlockQ3_K]byte)(w[i*gguf.BlockQ3_K:])
		y := (*[gguf.BlockQ8_K]byte)(a[i*gguf.BlockQ8_K:])
		scalesQ3K(x[96:108], &scales)
		hm := (*[32]byte)(x[0:])
		m0, m1, m2, m3 := load64(hm[0:]), load64(hm[8:]), load64(hm[16:]), load64(hm[24:])
		// Value 128k+32j+l is bits 2j, 2j+1 of qs[32k+l], minus 4 unless
		// bit 4k+j of hmask[l] is set. Weights in [-4, 3]: the 16
		// products per scale sum to at most 8128.
		var isum int32
		for k := range 2 {
			q := (*[32]byte)(x[32+32*k:])
			x0, x1, x2, x3 := load64(q[0:]), load64(q[8:]), load64(q[16:]), load64(q[24:])
			for j := range 4 {
				b := (*[32]byte)(y[q8KQOff+128*k+32*j:])
				s, hs := uint(2*j), uint(4*k+j)
				g0, g1, g2, g3 := m0>>hs, m1>>hs, m2>>hs, m3>>hs
				e0, o0 := actLanes(b[0:])
				e1, o1 := actLanes(b[8:])
				e2, o2 := actLanes(b[16:])
				e3, o3 := actLanes(b[24:])
				t0 := (x0>>s&lane2|(g0&lane1)<<2-bias4)*e0 + (x0>>(s+8)&lane2|(g0>>8&lane1)<<2-bias4)*o0 +
					(x1>>s&lane2|(g1&lane1)<<2-bias4)*e1 + (x1>>(s+8)&lane2|(g1>>8&lane1)<<2-bias4)*o1
				t1 := (x2>>s&lane2|(g2&lane1)<<2-bias4)*e2 + (x2>>(s+8)&lane2|(g2>>8&lane1)<<2-bias4)*o2 +
					(x3>>s&lane2|(g3&lane1)<<2-bias4)*e3 + (x3>>(s+8)&lane2|(g3>>8&lane1)<<2-bias4)*o3
				is := 8*k + 2*j
				isum += int32(scales[is])*laneSum(t0) + int32(scales[is+1])*laneSum(t1)
			}
		}
		sum += loadF16(x[108:]) * q8KScale(y) * float32(isum)
	}
	return sum
}
