//go:build mslemu && mslemu_asan

package emu

// AddressSanitizer build: go test -tags 'mslemu mslemu_asan'. Kernels,
// runtime and glue are instrumented; buffers and threadgroup memory are
// allocated with poisoned guard bytes, so an out-of-bounds access aborts the
// process with ASan's report pointing at the .metal line.

/*
#cgo CFLAGS: -fsanitize=address -fno-omit-frame-pointer
#cgo CXXFLAGS: -fsanitize=address
#cgo LDFLAGS: -fsanitize=address
*/
import "C"
