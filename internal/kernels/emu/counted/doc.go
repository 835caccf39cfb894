// Package counted builds the product kernels a second time for the MSL
// emulator, with every load instrumented, for emu.CountLoads: the device
// memory loads of a dispatch, instruction by instruction.
//
// The glue (glue_counted_gen.cpp, written by go generate in the emu package)
// includes the kernels, the shim and the runtime's header from outside this
// directory. It is compiled with -fsanitize=thread and without
// ThreadSanitizer's runtime: the instrumentation calls __tsan_read1 ...
// __tsan_read16 before each load, and the emu runtime defines those to
// count the load. The kernels are compiled without optimization (each load
// the source states is executed as one load); the shim and the runtime are
// not instrumented. ThreadSanitizer skips accesses outside the default
// address space, so the shim drops the address spaces in this build (as in
// the AddressSanitizer build). Package emu links this package in; its code
// is only reached through emu.
package counted
