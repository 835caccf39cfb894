// Package cpu is the CPU backend: every forward-pass operation on float32
// activations, matrix multiplication against every ggml weight type with
// activations quantized the way llama.cpp quantizes them, and a persistent
// worker pool that splits each operation across cores.
//
// Arithmetic follows llama.cpp's x86 CPU backend operation by operation:
// the order in which dot products add their terms (SumOrder, and the
// quantized kernels' float lanes), ggml's vectorised exponential (VecExpf)
// and glibc's sinf, cosf, powf and expf (libm.go), so that with the
// assembly kernels a model's logits equal llama.cpp's bit for bit.
//
// The plain functions in ops.go are the reference (the oracle) that the
// Metal kernels are tested against.
package cpu
