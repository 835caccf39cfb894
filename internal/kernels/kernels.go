// Package kernels holds the Metal backend's kernels, as Metal Shading
// Language sources embedded into the binary, and their contract with the
// host in Go: the argument structs and launch shapes of quant_args.h
// (args.go) and the kernels of each weight and KV-cache type (names.go).
//
// The kernels are tested on any machine by the emulator in ./emu (see
// README.md); metal.NewDevice compiles Source() with newLibraryWithSource,
// or loads Metallib() when the binary embeds one.
package kernels

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.h *.metal
var files embed.FS

// Source returns the Metal library source: quant_args.h followed by every
// .metal file in name order. A library compiled from a string has no include
// path, so each `#include "name.h"` of an embedded header is replaced by the
// header's text where it first occurs and dropped after that (quant_args.h
// is already at the top).
func Source() string {
	var b strings.Builder
	seen := map[string]bool{}
	inline("quant_args.h", &b, seen)
	for _, name := range MetalFiles() {
		b.WriteString("\n// ---- " + name + "\n")
		inline(name, &b, seen)
	}
	return b.String()
}

// inline writes the embedded file name to b with its includes of embedded
// headers inlined once.
func inline(name string, b *strings.Builder, seen map[string]bool) {
	seen[name] = true
	text, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded above
	}
	for _, line := range strings.SplitAfter(string(text), "\n") {
		inc, ok := strings.CutPrefix(strings.TrimSpace(line), "#include \"")
		if inc, quoted := strings.CutSuffix(inc, "\""); ok && quoted {
			if _, err := files.ReadFile(inc); err == nil {
				if !seen[inc] {
					inline(inc, b, seen)
				}
				continue
			}
		}
		b.WriteString(line)
	}
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
