package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Reference dequantization of every ggml tensor type, following the block
// layouts of ggml-common.h and the dequantize_row_* functions of
// ggml-quants.c value for value.
//
// Every product that is later added or subtracted is wrapped in an explicit
// float32 conversion, float32(a*b) + c, even when stored in a variable first:
// that is the only thing that stops the Go compiler from fusing the two into
// an FMA (it does on arm64, ppc64le, s390x, riscv64 and amd64 with
// GOAMD64=v3). ggml rounds the product, so this keeps results identical
// everywhere.

// Dequantize decodes len(dst) values of type t from src. len(dst) must be a
// multiple of t.BlockElems() and src must hold exactly the bytes of that many
// values.
func Dequantize(t GGMLType, src []byte, dst []float32) error {
	want, err := t.RowBytes(len(dst))
	if err != nil {
		return fmt.Errorf("dequantize: %w", err)
	}
	if len(src) != want {
		return fmt.Errorf("dequantize %s: %d values take %d bytes, got %d", t, len(dst), want, len(src))
	}
	decode := RowDecoder(t)
	if decode == nil {
		return fmt.Errorf("dequantize: no decoder for tensor type %s", t)
	}
	decode(src, dst)
	return nil
}

// RowDecoder returns Dequantize without its checks, for loops that decode
// many rows whose sizes were checked once: the function decodes len(dst)
// values of type t (whole blocks) from src. It is nil for a type without a
// decoder.
func RowDecoder(t GGMLType) func(src []byte, dst []float32) {
	switch t {
	case TypeF32:
		return func(src []byte, dst []float32) {
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		}
	case TypeF16:
		return func(src []byte, dst []float32) {
			for i := range dst {
				dst[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	case TypeBF16:
		return func(src []byte, dst []float32) {
			for i := range dst {
				dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	}
	decode := blockDecoder(t)
	if decode == nil {
		return nil
	}
	n, size := t.BlockElems(), t.BlockBytes()
	return func(src []byte, dst []float32) {
		for i := range len(dst) / n {
			decode(src[i*size:(i+1)*size], dst[i*n:(i+1)*n])
		}
	}
}

// blockDecoder returns the function decoding one block of t, or nil.
func blockDecoder(t GGMLType) func(b []byte, y []float32) {
	switch t {
	case TypeQ4_0:
		return dequantQ4_0
	case TypeQ4_1:
		return dequantQ4_1
	case TypeQ5_0:
		return dequantQ5_0
	case TypeQ5_1:
		return dequantQ5_1
	case TypeQ8_0:
		return dequantQ8_0
	case TypeQ8_1:
		return dequantQ8_1
	case TypeQ2_K:
		return dequantQ2_K
	case TypeQ3_K:
		return dequantQ3_K
	case TypeQ4_K:
		return dequantQ4_K
	case TypeQ5_K:
		return dequantQ5_K
	case TypeQ6_K:
		return dequantQ6_K
	case TypeQ8_K:
		return dequantQ8_K
	}
	return nil
}

// half reads the little-endian fp16 at b[off:] as float32.
func half(b []byte, off int) float32 {
	return FP16ToFP32(binary.LittleEndian.Uint16(b[off:]))
}

// dequantQ4_0: block_q4_0 {d fp16; qs[16]}. Value j of the first half is the
// low nibble of qs[j], value j+16 the high nibble; x = (q-8)·d.
func dequantQ4_0(b []byte, y []float32) {
	d := half(b, 0)
	qs := b[2:18]
	y = y[:32]
	for j, q := range qs {
		y[j] = float32(int(q&0xf)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// dequantQ4_1: block_q4_1 {d, m fp16; qs[16]}; x = q·d + m.
func dequantQ4_1(b []byte, y []float32) {
	d, m := half(b, 0), half(b, 2)
	qs := b[4:20]
	y = y[:32]
	for j, q := range qs {
		y[j] = float32(float32(q&0xf)*d) + m
		y[j+16] = float32(float32(q>>4)*d) + m
	}
}

// dequantQ5_0: block_q5_0 {d fp16; qh u32; qs[16]}. Bit j of qh is the fifth
// bit of value j; x = (q-16)·d.
func dequantQ5_0(b []byte, y []float32) {
	d := half(b, 0)
	qh := binary.LittleEndian.Uint32(b[2:])
	qs := b[6:22]
	y = y[:32]
	for j, q := range qs {
		h0 := (qh >> j) & 1 << 4
		h1 := (qh >> (j + 16)) & 1 << 4
		y[j] = float32(int(uint32(q&0xf)|h0)-16) * d
		y[j+16] = float32(int(uint32(q>>4)|h1)-16) * d
	}
}

// dequantQ5_1: block_q5_1 {d, m fp16; qh u32; qs[16]}; x = q·d + m.
func dequantQ5_1(b []byte, y []float32) {
	d, m := half(b, 0), half(b, 2)
	qh := binary.LittleEndian.Uint32(b[4:])
	qs := b[8:24]
	y = y[:32]
	for j, q := range qs {
		h0 := (qh >> j) & 1 << 4
		h1 := (qh >> (j + 16)) & 1 << 4
		y[j] = float32(float32(uint32(q&0xf)|h0)*d) + m
		y[j+16] = float32(float32(uint32(q>>4)|h1)*d) + m
	}
}

// dequantQ8_0: block_q8_0 {d fp16; qs[32] int8}; x = q·d.
func dequantQ8_0(b []byte, y []float32) {
	d := half(b, 0)
	qs := b[2:34]
	y = y[:32]
	for j, q := range qs {
		y[j] = float32(int8(q)) * d
	}
}

// dequantQ8_1: block_q8_1 {d fp16; s fp16 (= d·Σq, unused here); qs[32] int8}.
func dequantQ8_1(b []byte, y []float32) {
	d := half(b, 0)
	qs := b[4:36]
	y = y[:32]
	for j, q := range qs {
		y[j] = float32(int8(q)) * d
	}
}

// dequantQ2_K: block_q2_K {scales[16]; qs[64]; d, dmin fp16}. Each of the 16
// groups of 16 values has a 4-bit scale (low nibble) and 4-bit min (high
// nibble). The 256 values are two halves of 128; in a half, byte l of its 32
// qs bytes holds values l, l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
// x = d·sc·q − dmin·m.
func dequantQ2_K(b []byte, y []float32) {
	scales := b[0:16]
	d, dmin := half(b, 80), half(b, 82)
	y = y[:QK_K]
	for n := 0; n < 2; n++ {
		qs := b[16+32*n : 16+32*n+32]
		for j := 0; j < 4; j++ {
			shift := 2 * j
			for g := 0; g < 2; g++ {
				sc := scales[8*n+2*j+g]
				dl := d * float32(sc&0xf)
				ml := float32(dmin * float32(sc>>4))
				out := y[128*n+32*j+16*g : 128*n+32*j+16*g+16]
				for l, q := range qs[16*g : 16*g+16] {
					out[l] = float32(dl*float32(q>>shift&3)) - ml
				}
			}
		}
	}
}

// q3KScales unpacks the sixteen 6-bit Q3_K scales (stored biased by 32) from
// their 12 bytes: the low nibbles of scales 0-7 and 8-15 are the low and high
// nibbles of bytes 0-7; the top two bits of scale j are bits 2·(j/4) of byte
// 8 + j%4.
func q3KScales(s []byte) [16]int {
	var out [16]int
	for j := range out {
		lo := s[j%8] >> (4 * (j / 8)) & 0xf
		hi := s[8+j%4] >> (2 * (j / 4)) & 3
		out[j] = int(lo|hi<<4) - 32
	}
	return out
}

// dequantQ3_K: block_q3_K {hmask[32]; qs[64]; scales[12]; d fp16}. The low
// two bits are packed as in Q2_K; the high bit of value 128·n + 32·j + l is
// bit 4·n + j of hmask[l]. A clear high bit means q−4: x = d·sc·(q − 4·!h).
func dequantQ3_K(b []byte, y []float32) {
	hmask := b[0:32]
	sc := q3KScales(b[96:108])
	d := half(b, 108)
	y = y[:QK_K]
	for n := 0; n < 2; n++ {
		qs := b[32+32*n : 32+32*n+32]
		for j := 0; j < 4; j++ {
			shift := 2 * j
			bit := uint(4*n + j)
			for g := 0; g < 2; g++ {
				dl := d * float32(sc[8*n+2*j+g])
				out := y[128*n+32*j+16*g : 128*n+32*j+16*g+16]
				for l := range out {
					q := int(qs[16*g+l] >> shift & 3)
					if hmask[16*g+l]>>bit&1 == 0 {
						q -= 4
					}
					out[l] = dl * float32(q)
				}
			}
		}
	}
}

// scaleMinK4 returns the 6-bit scale and min of sub-block j (0..7) of a
// Q4_K/Q5_K block from the 12 packed bytes (ggml's get_scale_min_k4):
// sub-blocks 0-3 use the low 6 bits of bytes j and j+4; sub-blocks 4-7 take
// their low 4 bits from byte j+4 and their top 2 bits from the top bits of
// bytes j-4 (scale) and j (min).
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// dequantQ4_K: block_q4_K {d, dmin fp16; scales[12]; qs[128]}. Eight
// sub-blocks of 32 with 6-bit scale and min; each 32 qs bytes hold two
// sub-blocks, the first in the low nibbles. x = d·sc·q − dmin·m.
func dequantQ4_K(b []byte, y []float32) {
	d, dmin := half(b, 0), half(b, 2)
	scales := b[4:16]
	y = y[:QK_K]
	for n := 0; n < 4; n++ {
		qs := b[16+32*n : 16+32*n+32]
		sc, m := scaleMinK4(2*n, scales)
		d1, m1 := d*float32(sc), float32(dmin*float32(m))
		sc, m = scaleMinK4(2*n+1, scales)
		d2, m2 := d*float32(sc), float32(dmin*float32(m))
		lo := y[64*n : 64*n+32]
		hi := y[64*n+32 : 64*n+64]
		for l, q := range qs {
			lo[l] = float32(d1*float32(q&0xf)) - m1
			hi[l] = float32(d2*float32(q>>4)) - m2
		}
	}
}

// dequantQ5_K: block_q5_K {d, dmin fp16; scales[12]; qh[32]; qs[128]}. Like
// Q4_K with a fifth bit: for the n-th pair of sub-blocks, bits 2n and 2n+1
// of qh[l] extend the low and high nibble of qs byte l.
func dequantQ5_K(b []byte, y []float32) {
	d, dmin := half(b, 0), half(b, 2)
	scales := b[4:16]
	qh := b[16:48]
	y = y[:QK_K]
	for n := 0; n < 4; n++ {
		qs := b[48+32*n : 48+32*n+32]
		sc, m := scaleMinK4(2*n, scales)
		d1, m1 := d*float32(sc), float32(dmin*float32(m))
		sc, m = scaleMinK4(2*n+1, scales)
		d2, m2 := d*float32(sc), float32(dmin*float32(m))
		lo := y[64*n : 64*n+32]
		hi := y[64*n+32 : 64*n+64]
		for l, q := range qs {
			h := qh[l] >> (2 * n)
			lo[l] = float32(d1*float32(q&0xf|(h&1)<<4)) - m1
			hi[l] = float32(d2*float32(q>>4|(h>>1&1)<<4)) - m2
		}
	}
}

// dequantQ6_K: block_q6_K {ql[128]; qh[64]; scales[16] int8; d fp16}. Each
// half of 128 values uses 64 ql bytes and 32 qh bytes: value l (l < 32) and
// l+64 are the low and high nibble of ql[l], l+32 and l+96 those of ql[l+32];
// their top two bits are bit pairs 0, 1, 2, 3 of qh[l]. x = d·sc·(q−32),
// evaluated as (d·sc)·q like ggml.
func dequantQ6_K(b []byte, y []float32) {
	d := half(b, 208)
	y = y[:QK_K]
	for n := 0; n < 2; n++ {
		ql := b[64*n : 64*n+64]
		qh := b[128+32*n : 128+32*n+32]
		sc := b[192+8*n : 192+8*n+8]
		out := y[128*n : 128*n+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			h := qh[l]
			q1 := int(ql[l]&0xf|(h&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|(h>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(h>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(h>>6&3)<<4) - 32
			out[l] = d * float32(int8(sc[is])) * float32(q1)
			out[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}

// dequantQ8_K: block_q8_K {d float32; qs[256] int8; bsums[16] int16}; x = d·q.
func dequantQ8_K(b []byte, y []float32) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(b))
	qs := b[4 : 4+QK_K]
	y = y[:QK_K]
	for j, q := range qs {
		y[j] = d * float32(int8(q))
	}
}
