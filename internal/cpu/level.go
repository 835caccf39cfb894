package cpu

import (
	"fmt"
	"os"
	"strings"
)

// level is a set of kernels for Dot, DotMatrix and the row operations:
// the pure-Go ones, or the assembly kernels an instruction-set extension
// allows. Every assembly level gives the results of levelAVX2 bit for bit
// (the orders of llama.cpp's x86 kernels); the pure-Go kernels differ from
// them by float32 rounding only (see bitIdentical in the tests).
type level int

const (
	levelGeneric level = iota // pure Go
	levelAVX2                 // AVX2, FMA and F16C (dot_amd64.s)
	levelAVX512               // AVX-512 F, BW, VL and VNNI (dot_avx512_amd64.s) where a kernel exists, AVX2 otherwise
)

var levelNames = [...]string{levelGeneric: "generic", levelAVX2: "avx2", levelAVX512: "avx512"}

func (l level) String() string { return levelNames[l] }

// kernelLevel is the level the package uses: the highest the CPU supports,
// or the lower one that $QUANT_CPU names (so that tests and benchmarks
// can run each level a machine has). It is set once, at start-up.
var kernelLevel = chooseLevel(os.Getenv("QUANT_CPU"), supportedLevel())

// chooseLevel returns the level that name (a QUANT_CPU value) asks for,
// capped at best; an empty name asks for best. An unknown name panics:
// running other kernels than the ones asked for would make a test or a
// benchmark measure the wrong thing.
func chooseLevel(name string, best level) level {
	if name == "" {
		return best
	}
	for l, n := range levelNames {
		if n == name {
			return min(level(l), best)
		}
	}
	panic(fmt.Sprintf("QUANT_CPU=%q: want one of %s", name, strings.Join(levelNames[:], ", ")))
}

// AssemblyKernels reports whether Dot and DotMatrix run assembly kernels,
// which add in the orders of llama.cpp's x86 kernels (and so give its
// results bit for bit), rather than the pure-Go ones.
func AssemblyKernels() bool { return kernelLevel > levelGeneric }

// KernelLevel names the kernel set in use: generic, avx2 or avx512.
func KernelLevel() string { return kernelLevel.String() }
