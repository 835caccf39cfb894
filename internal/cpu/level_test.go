package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

func TestChooseLevel(t *testing.T) {
	x86, arm := archLevels("amd64"), archLevels("arm64")
	for _, tc := range []struct {
		name       string
		levels     []level
		best, want level
	}{
		{"", x86, levelAVX512, levelAVX512},
		{"", x86, levelGeneric, levelGeneric},
		{"generic", x86, levelAVX512, levelGeneric},
		{"avx2", x86, levelAVX512, levelAVX2},
		{"avx512", x86, levelAVX2, levelAVX2},
		{"avx512", x86, levelAVX512, levelAVX512},
		{"", arm, levelDotProd, levelDotProd},
		{"generic", arm, levelDotProd, levelGeneric},
		{"neon", arm, levelDotProd, levelNEON},
		{"dotprod", arm, levelNEON, levelNEON},
		{"dotprod", arm, levelDotProd, levelDotProd},
	} {
		if got := chooseLevel(tc.name, tc.levels, tc.best); got != tc.want {
			t.Errorf("chooseLevel(%q, %v, %v) = %v, want %v", tc.name, tc.levels, tc.best, got, tc.want)
		}
	}
	mustPanic(t, `QUANT_CPU="sse": want one of generic, avx2, avx512`, func() { chooseLevel("sse", x86, levelAVX2) })
	mustPanic(t, `QUANT_CPU="avx2": want one of generic, neon, dotprod`, func() { chooseLevel("avx2", arm, levelDotProd) })
	mustPanic(t, `QUANT_CPU="neon": want one of generic`, func() { chooseLevel("neon", archLevels("riscv64"), levelGeneric) })
}

// TestLevelsAgree runs DotMatrix at every kernel level this CPU supports
// (whatever $QUANT_CPU says) on matrices with odd and even numbers of
// weight rows, activation rows and blocks: every assembly level must give
// the lowest one's results bit for bit (llama.cpp's x86 orders, which
// TestKernelOrderAcrossArchitectures pins across architectures), and the
// pure-Go kernels agree with them as bitIdentical says.
func TestLevelsAgree(t *testing.T) {
	best := supportedLevel()
	t.Logf("levels: generic to %v; $QUANT_CPU gives %v", best, kernelLevel)
	if best == levelGeneric {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(21, 22))
	// Rows cycle through random and extreme weight bytes and activations.
	fills := []int{-1, 0x80, -1, 0xff, 0x7f, 0x00, 0x0f, 0xf0}
	var wRow, aRow int
	for _, tc := range dotTypes {
		for _, blocks := range []int{1, 2, 3, 5, 8, 13} {
			n := blocks * tc.t.BlockElems()
			if tc.t.BlockElems() == 1 {
				n = blocks * 16 // whole steps of the float Gemm kernels
			}
			for _, wRows := range []int{1, 2, 3, 7} {
				w, wStride := testMatrix(t, r, tc.t, n, wRows, func() []byte {
					wRow++
					return testWeights(r, tc.t, n, fills[wRow%len(fills)])
				})
				for _, aRows := range []int{1, 3, 4, 5, 8, 9, 13} {
					a, aStride := testMatrix(t, r, tc.vt, n, aRows, func() []byte {
						aRow++
						return testActivations(r, tc.vt, n, actModes[aRow%len(actModes)])
					})
					for _, order := range []SumOrder{VecOrder, GemmOrder} {
						name := fmt.Sprintf("%v n=%d %dx%d order %d", tc.t, n, wRows, aRows, order)
						checkLevels(t, name, archLevels(runtime.GOARCH), best, tc.t, tc.vt, order, n, w, wStride, wRows, a, aStride, aRows)
					}
				}
			}
		}
	}
}

// checkLevels compares one DotMatrix call at every level of levels up to
// best with the lowest assembly level's (levels[1]).
func checkLevels(t *testing.T, name string, levels []level, best level, typ, vt gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int) {
	t.Helper()
	const sentinel = 42
	outStride := wRows + 1
	run := func(lv level) []float32 {
		out := make([]float32, aRows*outStride)
		for i := range out {
			out[i] = sentinel
		}
		dotMatrix(lv, typ, order, n, w, wStride, wRows, a, aStride, aRows, out, outStride)
		return out
	}
	ref := levels[1]
	want := run(ref)
	for _, lv := range levels {
		if lv > best {
			break
		}
		got := run(lv)
		for r := range aRows {
			for i := range outStride {
				g, x := got[r*outStride+i], want[r*outStride+i]
				if i == wRows {
					if g != sentinel {
						t.Fatalf("%s, %v: output gap of activation row %d overwritten", name, lv, r)
					}
					continue
				}
				var ok bool
				if lv == levelGeneric {
					wb, _ := typ.RowBytes(n)
					ab, _ := vt.RowBytes(n)
					mag := dotMagnitude(t, typ, vt, n, w[i*wStride:][:wb], a[r*aStride:][:ab])
					ok = sameDot(g, x, mag, bitIdentical(typ))
				} else {
					ok = math.Float32bits(g) == math.Float32bits(x)
				}
				if !ok {
					t.Fatalf("%s, %v: weight row %d x activation row %d = %g (%#08x), %v %g (%#08x)",
						name, lv, i, r, g, math.Float32bits(g), ref, x, math.Float32bits(x))
				}
			}
		}
	}
}
