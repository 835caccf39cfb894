// Package cpu is the CPU backend: every forward-pass operation on float32
// activations, matrix multiplication against every ggml weight type with
// activations quantized the way llama.cpp quantizes them, and a persistent
// worker pool that splits each operation across cores.
//
// The plain functions in ops.go are the reference (the oracle) that the
// Metal kernels are tested against.
package cpu
