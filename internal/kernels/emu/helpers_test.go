//go:build mslemu

package emu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func randF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// nanBuffer is an output buffer of n floats, all NaN: unwritten results show.
func nanBuffer(n int) []byte {
	return bytes.Repeat([]byte{0xFF}, 4*n)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// seedFor gives every test its own reproducible seed.
func seedFor(t *testing.T) uint64 {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return h.Sum64()
}

func newRand(t *testing.T) *rand.Rand {
	s := seedFor(t)
	return rand.New(rand.NewPCG(s, s>>1|1))
}

// mismatch returns a description of the first element where got differs from
// want by more than tol(i), or "".
func mismatch(got, want []float32, tol func(i int) float64) string {
	if len(got) != len(want) {
		return "length differs"
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol(i)) { // NaN fails
			return fmt.Sprintf("element %d: got %g, want %g (tolerance %.3g)", i, got[i], want[i], tol(i))
		}
	}
	return ""
}

// markLine returns the line number (1-based) of the line of file containing
// "MARK: "+mark.
func markLine(t *testing.T, file, mark string) int {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, "MARK: "+mark) {
			return i + 1
		}
	}
	t.Fatalf("%s: no line marked %q", file, mark)
	return 0
}
