// Package emu runs Metal compute kernels on the CPU, from their real .metal
// source, so that they can be tested on machines without an Apple GPU.
//
// The .metal files compile as C++14 with clang++ against a replacement
// <metal_stdlib> (shim/metal_stdlib); runtime.cpp executes a dispatch with
// one fiber per Metal thread, yielding at barriers and SIMD-group functions.
// Glue that binds each `kernel void`, and each host-named instantiation of a
// kernel template, to the runtime is generated from the kernel signatures
// (glue_*_gen.cpp, by "go run ./gen").
//
// The runtime needs cgo and clang++, so Run and the tests exist only with the
// build tag mslemu:
//
//	CC=clang-16 CXX=clang++-16 go test -tags mslemu ./internal/kernels/...
//
// and with AddressSanitizer: -tags 'mslemu mslemu_asan'. Without the tag the
// package holds only the dispatch types and the glue generator.
package emu

//go:generate go run ./gen
