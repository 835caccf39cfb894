package cpu

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// level is a set of kernels for Dot, DotMatrix and the row operations:
// the pure-Go ones, or the assembly kernels an instruction-set extension
// allows. Every assembly level, on either architecture, gives the results
// of levelAVX2 bit for bit (the orders of llama.cpp's x86 kernels); the
// pure-Go kernels differ from them by float32 rounding only (see
// bitIdentical in the tests).
type level int

const (
	levelGeneric level = iota // pure Go
	levelAVX2                 // AVX2, FMA and F16C (dot_amd64.s)
	levelAVX512               // AVX-512 F, BW, VL and VNNI (dot_avx512_amd64.s) where a kernel exists, AVX2 otherwise
	levelNEON                 // arm64 Advanced SIMD (dot_arm64.s)
	levelDotProd              // arm64 Advanced SIMD with the dot-product extension (SDOT)
)

var levelNames = [...]string{levelGeneric: "generic", levelAVX2: "avx2", levelAVX512: "avx512",
	levelNEON: "neon", levelDotProd: "dotprod"}

// archLevels lists the levels of architecture goarch, lowest first (each
// uses the kernels of the ones below it where it has none of its own).
func archLevels(goarch string) []level {
	switch goarch {
	case "amd64":
		return []level{levelGeneric, levelAVX2, levelAVX512}
	case "arm64":
		return []level{levelGeneric, levelNEON, levelDotProd}
	}
	return []level{levelGeneric}
}

func (l level) String() string { return levelNames[l] }

// kernelLevel is the level the package uses: the highest the CPU supports,
// or the lower one that $QUANT_CPU names (so that tests and benchmarks
// can run each level a machine has). It is set once, at start-up.
var kernelLevel = chooseLevel(os.Getenv("QUANT_CPU"), archLevels(runtime.GOARCH), supportedLevel())

// chooseLevel returns the level of levels (an architecture's) that name
// (a QUANT_CPU value) asks for, capped at best; an empty name asks for
// best. A name that is not one of levels panics: running other kernels
// than the ones asked for would make a test or a benchmark measure the
// wrong thing.
func chooseLevel(name string, levels []level, best level) level {
	if name == "" {
		return best
	}
	names := make([]string, len(levels))
	for i, l := range levels {
		if l.String() == name {
			return min(l, best)
		}
		names[i] = l.String()
	}
	panic(fmt.Sprintf("QUANT_CPU=%q: want one of %s", name, strings.Join(names, ", ")))
}

// AssemblyKernels reports whether Dot and DotMatrix run assembly kernels,
// which add in the orders of llama.cpp's x86 kernels (and so give its
// results bit for bit) on amd64 and arm64 alike, rather than the pure-Go
// ones.
func AssemblyKernels() bool { return kernelLevel > levelGeneric }

// KernelLevel names the kernel set in use: generic, avx2, avx512, neon or
// dotprod.
func KernelLevel() string { return kernelLevel.String() }
