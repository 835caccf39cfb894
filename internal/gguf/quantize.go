package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Reference quantizers, ports of llama.cpp's quantize_row_*_ref (ggml-quants.c).
// llama-quantize without an importance matrix uses exactly these for every type
// here (quantize_q4_K etc. call the _ref row functions when quant_weights is
// NULL), so the output is byte-identical to its files.
//
// Reproducing ggml's bytes needs its float32 arithmetic operation by
// operation, in C's order, with integer factors converted to float32 where C
// converts them. ggml's reference code is built for baseline x86-64 and
// never fuses a multiply and an add, but the Go compiler does (arm64,
// ppc64le, s390x, riscv64, amd64 with GOAMD64=v3) unless the product is
// explicitly converted, even when it was stored in a variable first. So every
// product that is later added or subtracted is written float32(a*b); without
// that, 5-30% of the Q4_K/Q5_K blocks of the test models differ from
// llama.cpp's. `GOAMD64=v3 go test -run Quantize` checks this on amd64.

// groupMaxEps is ggml's GROUP_MAX_EPS: groups whose largest magnitude is below
// it are treated as all zero.
const groupMaxEps = 1e-15

// Quantize encodes src (its length a multiple of the block size of t) as type
// t, appends the bytes to dst and returns the extended slice. Supported: F32,
// F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// Q8_K.
func Quantize(t GGMLType, src []float32, dst []byte) ([]byte, error) {
	encode := blockEncoder(t)
	if encode == nil {
		return dst, fmt.Errorf("quantize: tensor type %s is not supported", t)
	}
	size, err := t.RowBytes(len(src))
	if err != nil {
		return dst, fmt.Errorf("quantize: %w", err)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	out := dst[start:]
	clear(out) // encoders may leave bytes untouched (e.g. Q8_K bsums of a zero block)
	n, bs := t.BlockElems(), t.BlockBytes()
	for i := 0; i < len(src)/n; i++ {
		encode(src[i*n:(i+1)*n], out[i*bs:(i+1)*bs])
	}
	return dst, nil
}

// blockEncoder returns the function encoding one block of t, or nil.
func blockEncoder(t GGMLType) func(x []float32, b []byte) {
	switch t {
	case TypeF32:
		return func(x []float32, b []byte) { binary.LittleEndian.PutUint32(b, math.Float32bits(x[0])) }
	case TypeF16:
		return func(x []float32, b []byte) { binary.LittleEndian.PutUint16(b, FP32ToFP16(x[0])) }
	case TypeBF16:
		return func(x []float32, b []byte) { binary.LittleEndian.PutUint16(b, FP32ToBF16(x[0])) }
	case TypeQ4_0:
		return quantQ4_0
	case TypeQ4_1:
		return quantQ4_1
	case TypeQ5_0:
		return quantQ5_0
	case TypeQ5_1:
		return quantQ5_1
	case TypeQ8_0:
		return quantQ8_0
	case TypeQ8_1:
		return quantQ8_1
	case TypeQ2_K:
		return quantQ2_K
	case TypeQ3_K:
		return quantQ3_K
	case TypeQ4_K:
		return quantQ4_K
	case TypeQ5_K:
		return quantQ5_K
	case TypeQ6_K:
		return quantQ6_K
	case TypeQ8_K:
		return quantQ8_K
	}
	return nil
}

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// sqrt32 is sqrtf: the float64 square root rounded to float32 is the
// correctly rounded float32 square root.
func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// NearestInt is ggml's nearest_int (and the AVX rounding of its activation
// quantizers): adding 1.5·2²³ makes the float32 adder round to an integer
// (ties to even), which is then read from the mantissa. Valid for
// |f| ≤ 4194303, like the original.
func NearestInt(f float32) int {
	// float32(f) rounds a product passed in as f before the addition, so
	// the inlined call cannot be fused into an FMA.
	i := math.Float32bits(float32(f) + 12582912)
	return int(i&0x007fffff) - 0x00400000
}

// truncInt converts like a C float-to-int cast: toward zero.
func truncInt(f float32) int { return int(f) }

// fmax is C's `if (v > m) m = v`: unlike the builtin max, a NaN v is ignored.
func fmax(m, v float32) float32 {
	if v > m {
		return v
	}
	return m
}

// absMax returns the element of largest magnitude (the first one on ties)
// and that magnitude.
func absMax(x []float32) (vmax, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, vmax = a, v
		}
	}
	return vmax, amax
}

// quantQ4_0 is quantize_row_q4_0_ref: d = max/−8 where max is the value of
// largest magnitude, so that value maps exactly to q = 0.
func quantQ4_0(x []float32, b []byte) {
	vmax, _ := absMax(x)
	d := vmax / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	qs := b[2:18]
	for j := range qs {
		q0 := min(15, truncInt(float32(x[j]*id)+8.5))
		q1 := min(15, truncInt(float32(x[j+16]*id)+8.5))
		qs[j] = uint8(q0) | uint8(q1)<<4
	}
}

// minMax returns the smallest and largest value, as ggml's q4_1/q5_1 loops.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// quantQ4_1 is quantize_row_q4_1_ref: q = round((x − min)/d), d = (max−min)/15.
func quantQ4_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	putHalf(b[2:], lo)
	qs := b[4:20]
	for j := range qs {
		q0 := min(15, truncInt(float32((x[j]-lo)*id)+0.5))
		q1 := min(15, truncInt(float32((x[j+16]-lo)*id)+0.5))
		qs[j] = uint8(q0) | uint8(q1)<<4
	}
}

// quantQ5_0 is quantize_row_q5_0_ref: like Q4_0 with d = max/−16 and the
// fifth bits collected in qh.
func quantQ5_0(x []float32, b []byte) {
	vmax, _ := absMax(x)
	d := vmax / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	var qh uint32
	qs := b[6:22]
	for j := range qs {
		q0 := uint32(min(31, truncInt(float32(x[j]*id)+16.5)))
		q1 := uint32(min(31, truncInt(float32(x[j+16]*id)+16.5)))
		qs[j] = uint8(q0&0xf | (q1&0xf)<<4)
		qh |= (q0 >> 4 & 1) << j
		qh |= (q1 >> 4 & 1) << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[2:], qh)
}

// quantQ5_1 is quantize_row_q5_1_ref (note: no clamp to 31, as in ggml).
func quantQ5_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	putHalf(b[2:], lo)
	var qh uint32
	qs := b[8:24]
	for j := range qs {
		q0 := uint32(uint8(truncInt(float32((x[j]-lo)*id) + 0.5)))
		q1 := uint32(uint8(truncInt(float32((x[j+16]-lo)*id) + 0.5)))
		qs[j] = uint8(q0&0xf | (q1&0xf)<<4)
		qh |= (q0 >> 4 & 1) << j
		qh |= (q1 >> 4 & 1) << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[4:], qh)
}

// roundInt8 is roundf (half away from zero) stored to int8.
func roundInt8(f float32) uint8 { return uint8(int8(math.Round(float64(f)))) }

// quantQ8_0 is quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d).
func quantQ8_0(x []float32, b []byte) {
	_, amax := absMax(x)
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	for j, v := range x {
		b[2+j] = roundInt8(v * id)
	}
}

// quantQ8_1 is quantize_row_q8_1_ref: Q8_0 plus s = d·Σq.
func quantQ8_1(x []float32, b []byte) {
	_, amax := absMax(x)
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	sum := 0
	for j, v := range x {
		q := roundInt8(v * id)
		b[4+j] = q
		sum += int(int8(q))
	}
	putHalf(b[2:], float32(sum)*d)
}

// quantQ8_K is quantize_row_q8_K_ref: d = max/−127 is stored as float32 and
// bsums holds the sum of each 16 quants.
func quantQ8_K(x []float32, b []byte) {
	vmax, amax := absMax(x)
	if amax == 0 {
		return // d and qs stay zero (ggml leaves bsums untouched; Quantize zeroed them)
	}
	iscale := -127 / vmax
	qs := b[4 : 4+QK_K]
	for j, v := range x {
		qs[j] = uint8(int8(min(127, NearestInt(iscale*v))))
	}
	for j := 0; j < QK_K/16; j++ {
		sum := 0
		for _, q := range qs[16*j : 16*j+16] {
			sum += int(int8(q))
		}
		binary.LittleEndian.PutUint16(b[4+QK_K+2*j:], uint16(int16(sum)))
	}
	binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
}

// makeQKX2Quants is ggml's make_qkx2_quants: it fits x ≈ scale·L − negMin
// with L in [0, nmax], trying nstep+1 candidate scales around nmax/(max−min)
// and keeping the one with the smallest weighted error (squared, or absolute
// when useMAD), each candidate refined by a weighted least-squares fit of
// scale and min. L receives the levels; aux is scratch of len(x).
func makeQKX2Quants(nmax int, x, weights []float32, L, aux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, negMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L[:n])
		return 0, -lo
	}
	errOf := func(diff float32) float32 {
		if useMAD {
			return abs32(diff)
		}
		return diff * diff
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		l := max(0, min(nmax, NearestInt(iscale*(x[i]-lo))))
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + lo - x[i]
		bestErr += float32(weights[i] * errOf(diff))
	}
	if nstep < 1 {
		return scale, -lo
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := max(0, min(nmax, NearestInt(iscale*(x[i]-lo))))
			aux[i] = uint8(l)
			w, fl := weights[i], float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(w * fl * fl)
			sumXL += float32(w * fl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D <= 0 {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var curErr float32
		for i := range n {
			diff := float32(thisScale*float32(aux[i])) + thisMin - x[i]
			curErr += float32(weights[i] * errOf(diff))
		}
		if curErr < bestErr {
			copy(L[:n], aux[:n])
			bestErr = curErr
			scale, lo = thisScale, thisMin
		}
	}
	return scale, -lo
}

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 and no importance
// weights (the only form the reference quantizers use): symmetric levels
// L in [0, 2·nmax) (stored biased by nmax) with weights x², trying 18 scales
// around nmax/max and keeping the best weighted least-squares fit.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	vmax, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	level := func(iscale, v float32) int { return max(-nmax, min(nmax-1, NearestInt(iscale*v))) }
	iscale := float32(-nmax) / vmax
	var sumlx, suml2 float32
	for i, v := range x {
		l := level(iscale, v)
		L[i] = int8(l + nmax)
		w, fl := v*v, float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / vmax
		sumlx, suml2 = 0, 0
		for _, v := range x {
			w, fl := v*v, float32(level(iscale, v))
			sumlx += float32(w * v * fl)
			suml2 += float32(w * fl * fl)
		}
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			for i, v := range x {
				L[i] = int8(level(iscale, v) + nmax)
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: levels in [−nmax, nmax)
// from nmax/max, then up to five passes that move single levels when that
// improves the x²-weighted least-squares fit. L is returned biased by nmax.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	vmax, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	clampL := func(l int) int { return max(-nmax, min(nmax-1, l)) }
	iscale := float32(-nmax) / vmax
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampL(NearestInt(iscale * v))
		L[i] = int8(l)
		w, fl := v*v, float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w, fl := v*v, float32(L[i])
			slx := sumlx - float32(w*v*fl)
			if slx <= 0 {
				continue
			}
			sl2 := suml2 - float32(w*fl*fl)
			newL := clampL(NearestInt(v * sl2 / slx))
			if newL == int(L[i]) {
				continue
			}
			fn := float32(newL)
			slx += float32(w * v * fn)
			sl2 += float32(w * fn * fn)
			if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
				L[i] = int8(newL)
				sumlx, suml2 = slx, sl2
				changed++
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// packQ2Bits stores 256 two-bit values as Q2_K/Q3_K do: in each half of 128,
// byte l holds values l, l+32, l+64 and l+96 in bit pairs from the bottom.
func packQ2Bits(L *[QK_K]uint8, qs []byte) {
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// quantQ2_K is quantize_row_q2_K_ref: per group of 16 an asymmetric 2-bit fit
// (absolute-error weighted by |x|), then the 16 scales and mins quantized to
// 4 bits against the largest of each, and the values re-quantized with the
// rounded scales.
func quantQ2_K(x []float32, b []byte) {
	var L [QK_K]uint8
	var aux [16]uint8
	var weights [16]float32
	var scales, mins [QK_K / 16]float32
	var maxScale, maxMin float32
	for j := range scales {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], aux[:], -0.5, 0.1, 15, true)
		maxScale = fmax(maxScale, scales[j])
		maxMin = fmax(maxMin, mins[j])
	}
	sc := b[0:16]
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range scales {
			sc[j] = uint8(NearestInt(iscale * scales[j]))
		}
		putHalf(b[80:], maxScale/15)
	} else {
		putHalf(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range mins {
			sc[j] |= uint8(NearestInt(iscale*mins[j]) << 4)
		}
		putHalf(b[82:], maxMin/15)
	} else {
		putHalf(b[82:], 0)
	}
	dAll, mAll := half(b, 80), half(b, 82)
	for j := range scales {
		d := dAll * float32(sc[j]&0xf)
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(sc[j]>>4))
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = uint8(max(0, min(3, NearestInt((v+dm)/d))))
		}
	}
	packQ2Bits(&L, b[16:80])
}

// quantQ3_K is quantize_row_q3_K_ref: per group of 16 a symmetric 3-bit fit,
// the 16 signed scales quantized to 6 bits against the one of largest
// magnitude, then re-quantization with the rounded scales; the third bit of
// each value goes to hmask.
func quantQ3_K(x []float32, b []byte) {
	var Ls [QK_K]int8
	var scales [QK_K / 16]float32
	var maxScale, amax float32
	for j := range scales {
		scales[j] = makeQ3Quants(4, x[16*j:16*j+16], Ls[16*j:16*j+16])
		if s := abs32(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	packed := b[96:108]
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range scales {
			l := int(int8(NearestInt(iscale * scales[j]))) // C stores it in an int8_t first
			l = max(-32, min(31, l)) + 32
			if j < 8 {
				packed[j] = uint8(l & 0xf)
			} else {
				packed[j-8] |= uint8(l&0xf) << 4
			}
			packed[j%4+8] |= uint8(l>>4) << (2 * (j / 4))
		}
		putHalf(b[108:], 1/iscale)
	} else {
		putHalf(b[108:], 0)
	}
	dAll := half(b, 108)
	sc := q3KScales(packed)
	for j := range scales {
		d := dAll * float32(sc[j])
		if d == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			Ls[16*j+i] = int8(max(-4, min(3, NearestInt(v/d))) + 4)
		}
	}
	// The high bit of value j goes to bit j/32 of hmask[j%32].
	var L [QK_K]uint8
	hmask := b[0:32]
	for j, l := range Ls {
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		L[j] = uint8(l)
	}
	packQ2Bits(&L, b[32:96])
}

// quantKScalesMins is the common first half of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: an asymmetric fit of each sub-block of 32 (weights
// rms(x) + |x|), the eight scales and mins quantized to 6 bits against the
// largest of each and packed into the 12 scale bytes, d and dmin stored as
// fp16 at b[0:4], and the values re-quantized to [0, nmax] with the rounded
// scales.
func quantKScalesMins(x []float32, b []byte, L *[QK_K]uint8, nmax int, rmin, rdelta float32, nstep int) {
	var aux [32]uint8
	var weights [32]float32
	var scales, mins [QK_K / 32]float32
	var maxScale, maxMin float32
	for j := range scales {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], aux[:], rmin, rdelta, nstep, false)
		maxScale = fmax(maxScale, scales[j])
		maxMin = fmax(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	packed := b[4:16]
	for j := range scales {
		ls := min(63, uint8(NearestInt(invScale*scales[j])))
		lm := min(63, uint8(NearestInt(invMin*mins[j])))
		if j < 4 {
			packed[j] = ls
			packed[j+4] = lm
		} else {
			packed[j+4] = ls&0xf | (lm&0xf)<<4
			packed[j-4] |= (ls >> 4) << 6
			packed[j] |= (lm >> 4) << 6
		}
	}
	putHalf(b[0:], maxScale/63)
	putHalf(b[2:], maxMin/63)
	dAll, mAll := half(b, 0), half(b, 2)
	for j := range scales {
		sc, m := scaleMinK4(j, packed)
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(m))
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(max(0, min(nmax, NearestInt((v+dm)/d))))
		}
	}
}

// quantQ4_K is quantize_row_q4_K_ref.
func quantQ4_K(x []float32, b []byte) {
	var L [QK_K]uint8
	quantKScalesMins(x, b, &L, 15, -1, 0.1, 20)
	for n := 0; n < 4; n++ {
		qs := b[16+32*n : 16+32*n+32]
		for l := range qs {
			qs[l] = L[64*n+l] | L[64*n+l+32]<<4
		}
	}
}

// quantQ5_K is quantize_row_q5_K_ref: the Q4_K scheme with 5-bit levels.
func quantQ5_K(x []float32, b []byte) {
	var L [QK_K]uint8
	quantKScalesMins(x, b, &L, 31, -0.5, 0.1, 15)
	qh := b[16:48]
	for n := 0; n < 4; n++ {
		qs := b[48+32*n : 48+32*n+32]
		for l := range qs {
			l1, l2 := L[64*n+l], L[64*n+l+32]
			qh[l] |= (l1>>4)<<(2*n) | (l2>>4)<<(2*n+1)
			qs[l] = l1&0xf | (l2&0xf)<<4
		}
	}
}

// quantQ6_K is quantize_row_q6_K_ref: per group of 16 a symmetric 6-bit fit,
// the 16 scales quantized to int8 against the one of largest magnitude, and
// the values re-quantized with the rounded scales.
func quantQ6_K(x []float32, b []byte) {
	var Ls [QK_K]int8
	var scales [QK_K / 16]float32
	var maxScale, maxAbs float32
	for j := range scales {
		scales[j] = makeQXQuants(32, x[16*j:16*j+16], Ls[16*j:16*j+16])
		if a := abs32(scales[j]); a > maxAbs {
			maxAbs, maxScale = a, scales[j]
		}
	}
	if maxAbs < groupMaxEps {
		return // all zero: ggml writes a zeroed block, as Quantize prepared
	}
	iscale := -128 / maxScale
	putHalf(b[208:], 1/iscale)
	sc := b[192:208]
	for j := range scales {
		sc[j] = uint8(int8(min(127, NearestInt(iscale*scales[j]))))
	}
	dAll := half(b, 208)
	for j := range scales {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			Ls[16*j+i] = int8(max(-32, min(31, NearestInt(v/d))) + 32)
		}
	}
	for n := 0; n < 2; n++ {
		L := Ls[128*n : 128*n+128]
		ql := b[64*n : 64*n+64]
		qh := b[128+32*n : 128+32*n+32]
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(L[l]), uint8(L[l+32]), uint8(L[l+64]), uint8(L[l+96])
			ql[l] = q1&0xf | (q3&0xf)<<4
			ql[l+32] = q2&0xf | (q4&0xf)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
