// Package kernels holds the Metal Shading Language sources of the Metal
// backend, embedded into the binary.
//
// The kernels are tested on any machine by the emulator in ./emu (see
// README.md); the Metal backend compiles Source() with newLibraryWithSource.
package kernels

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed quant_args.h *.metal
var files embed.FS

// includeArgs is the line with which each .metal file includes the shared
// argument header; Source inlines the header once instead.
const includeArgs = `#include "quant_args.h"`

// Source returns the Metal library source: quant_args.h followed by every
// .metal file in name order, with their includes of quant_args.h removed
// (a library compiled from a string has no include path).
func Source() string {
	var b strings.Builder
	header, err := files.ReadFile("quant_args.h")
	if err != nil {
		panic(err) // embedded above
	}
	b.Write(header)
	for _, name := range MetalFiles() {
		text, err := files.ReadFile(name)
		if err != nil {
			panic(err)
		}
		b.WriteString("\n// ---- " + name + "\n")
		for _, line := range strings.SplitAfter(string(text), "\n") {
			if strings.TrimSpace(line) != includeArgs {
				b.WriteString(line)
			}
		}
	}
	return b.String()
}

// MetalFiles returns the names of the embedded .metal files in the order
// Source concatenates them.
func MetalFiles() []string {
	names, err := fs.Glob(files, "*.metal")
	if err != nil {
		panic(err)
	}
	sort.Strings(names)
	return names
}
