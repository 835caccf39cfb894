//go:build mslemu

package emu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// The shim must reject what the Metal compiler rejects where it matters most:
// mixing address spaces. These tests run the C++ compiler directly.

func cxx(t *testing.T) string {
	for _, c := range []string{os.Getenv("CXX"), "clang++-16", "clang++"} {
		if p, err := exec.LookPath(c); c != "" && err == nil {
			return p
		}
	}
	t.Skip("no clang++ found (set CXX)")
	return ""
}

func compileMSL(t *testing.T, src string, flags ...string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "k.metal")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-fsyntax-only", "-x", "c++", "-std=c++14", "-Ishim", "-Wno-unknown-attributes"}, flags...)
	out, err := exec.Command(cxx(t), append(args, file)...).CombinedOutput()
	return string(out), err
}

func TestShimRejects(t *testing.T) {
	const head = "#include <metal_stdlib>\nusing namespace metal;\n"
	for _, tc := range []struct{ name, src, want string }{
		{"device to thread pointer",
			"float f(thread const float* p) { return p[0]; }\nkernel void k(device const float* a [[buffer(0)]]) { f(a); }",
			"no matching function"},
		{"threadgroup to device pointer",
			"void g(device float* p);\nkernel void k(threadgroup float* t [[threadgroup(0)]]) { g(t); }",
			"no matching function"},
		{"threadgroup array in a kernel body",
			"kernel void k(device float* a [[buffer(0)]]) { threadgroup float tmp[32]; tmp[0] = 1; a[0] = tmp[0]; }",
			"address space"},
		{"write to constant",
			"kernel void k(constant float* c [[buffer(0)]]) { c[0] = 1.0f; }",
			"not assignable"},
		{"vector length",
			"kernel void k(device float4* a [[buffer(0)]]) { a[0] = float4(float2(1.0f), 1.0f); }",
			"wrong number of vector components"},
		{"mixed argument types",
			"kernel void k(device float* a [[buffer(0)]]) { a[0] = max(a[1], 2); }",
			"ambiguous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := compileMSL(t, head+tc.src)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("want a compile error containing %q, got %v:\n%s", tc.want, err, out)
			}
		})
	}
}

// TestProductKernelsCompileCleanly compiles the embedded library source, as
// newLibraryWithSource gets it, with warnings as errors.
func TestProductKernelsCompileCleanly(t *testing.T) {
	if out, err := compileMSL(t, kernels.Source(), "-Wall", "-Wextra", "-Werror"); err != nil {
		t.Errorf("%v:\n%s", err, out)
	}
}
