package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// TestF16Accumulator: the F16C kernels of flash attention's F16
// accumulator round every value as the Go formulas do: widen, one fused
// multiply-add (or multiply), round to the nearest half. (arm64 has no
// assembly row kernels: its flash attention runs the Go formulas.)
func TestF16Accumulator(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	halves := func(n int) []byte {
		b := make([]byte, 2*n)
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], gguf.FP32ToFP16(float32(rng.NormFloat64()*4)))
		}
		return b
	}
	for _, n := range []int{1, 7, 8, 13, 64, 72, 128, 256} {
		x, y := halves(n), halves(n)
		a := float32(rng.Float64())
		got := append([]byte(nil), y...)
		done := madF16RowSIMD(got, x, a)
		if want := n &^ 7; runtime.GOARCH == "amd64" && AssemblyKernels() && done != want {
			t.Errorf("n=%d: the kernel did %d values, want %d", n, done, want)
		}
		for i := done; i < n; i++ {
			storeF16(got[2*i:], fma32(loadF16(x[2*i:]), a, loadF16(got[2*i:])))
		}
		scaled := append([]byte(nil), got...)
		for i := scaleF16RowSIMD(scaled, a); i < n; i++ {
			storeF16(scaled[2*i:], loadF16(scaled[2*i:])*a)
		}
		for i := range n {
			mad := gguf.FP32ToFP16(fma32(loadF16(x[2*i:]), a, loadF16(y[2*i:])))
			if g := binary.LittleEndian.Uint16(got[2*i:]); g != mad {
				t.Fatalf("n=%d: mad value %d is %#04x, want %#04x", n, i, g, mad)
			}
			scale := gguf.FP32ToFP16(gguf.FP16ToFP32(mad) * a)
			if g := binary.LittleEndian.Uint16(scaled[2*i:]); g != scale {
				t.Fatalf("n=%d: scaled value %d is %#04x, want %#04x", n, i, g, scale)
			}
		}
	}
}

// TestRowDecoder: the AVX2 row decoders of flash attention give gguf's
// values bit for bit.
func TestRowDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range CacheTypes {
		for _, blocks := range []int{1, 2, 3, 8} {
			n := blocks * 32
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 3)
			}
			row := encodeCacheRow(typ, src, nil)
			want, got := make([]float32, n), make([]float32, n)
			if err := gguf.Dequantize(typ, row, want); err != nil {
				t.Fatal(err)
			}
			rowDecoder(typ)(row, got)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, %d blocks: value %d is %g, want %g", typ, blocks, i, got[i], want[i])
				}
			}
		}
	}
}
