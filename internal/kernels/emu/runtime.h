// runtime.h — the interface between the Go side (cgo, compiled as C), the
// generated kernel glue and the metal_stdlib shim (both C++), and the
// dispatch runtime (runtime.cpp).
//
// It is included before the shim defines its keyword macros (device,
// constant, thread, kernel, ...), so it may use any identifier, but it must
// stay valid C for the cgo preamble.
#ifndef EMU_RUNTIME_H
#define EMU_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Metal's argument table has 31 buffer and 31 threadgroup-memory slots.
#define EMU_MAX_BINDINGS 31
#define EMU_SIMD_WIDTH 32

// Built-in kernel inputs ([[thread_position_in_grid]] and friends), each kept
// as three uints; the glue converts to the parameter's declared type.
enum {
  EMU_BI_TPIG,   // thread_position_in_grid
  EMU_BI_TPITG,  // thread_position_in_threadgroup
  EMU_BI_TGPIG,  // threadgroup_position_in_grid
  EMU_BI_NTG,    // threads_per_threadgroup
  EMU_BI_NGRID,  // threadgroups_per_grid
  EMU_BI_TPG,    // threads_per_grid
  EMU_BI_TIITG,  // thread_index_in_threadgroup
  EMU_BI_TIISG,  // thread_index_in_simdgroup
  EMU_BI_SGITG,  // simdgroup_index_in_threadgroup
  EMU_BI_NSG,    // simdgroups_per_threadgroup
  EMU_BI_WIDTH,  // threads_per_simdgroup, thread_execution_width
  EMU_BI_COUNT
};

// What one emulated thread sees: bound buffers, threadgroup memory, built-ins.
typedef struct emu_ctx {
  void* buf[EMU_MAX_BINDINGS];
  void* tg[EMU_MAX_BINDINGS];
  uint32_t bi[EMU_BI_COUNT][3];
} emu_ctx;

// One kernel entry point of the generated glue (glue_*_gen.cpp).
typedef struct emu_kernel {
  const char* name;
  void (*fn)(const emu_ctx*);
  uint32_t buffers;  // bit i: the kernel has a [[buffer(i)]] parameter
  uint32_t tgmem;    // bit i: the kernel has a [[threadgroup(i)]] parameter
} emu_kernel;

// Tables emitted by the generator, terminated by a zero entry. The counted
// table holds the product kernels again, built with every memory access
// instrumented (package counted), for dispatches that count their loads.
extern const emu_kernel emu_kernels_product[];
extern const emu_kernel emu_kernels_testdata[];
extern const emu_kernel emu_kernels_counted[];

// Load counting: the memory of a dispatch's buffers as regions (a buffer,
// views of one allocation, or setBytes data), and what the kernel read
// from each. A simdgroup load is the k-th execution of one load of the
// kernel source by the lanes of a simdgroup: on the GPU one instruction,
// which fetches a byte that several lanes read once. A load of a type at an
// address that is not a multiple of its size (the alignment of MSL's
// scalar and vector types; packed types state a smaller one) fails the
// dispatch.
#define EMU_MAX_REGIONS (2 * EMU_MAX_BINDINGS)
typedef struct emu_region {
  void* base;        // in: the region's memory and length
  size_t len;
  const char* name;  // in: for messages ("buffer(1)")
  uint64_t loads;       // out: load instructions executed by threads
  uint64_t bytes;       // bytes they requested
  uint64_t simd_loads;  // simdgroup load instructions
  uint64_t simd_bytes;  // bytes those fetched, each byte once per instruction
  uint64_t unique;      // distinct bytes read
  uint64_t max_reads;   // most simdgroup load instructions that read one byte
} emu_region;

// A dispatch as the Go side hands it over. Buffers are already copied to C
// memory; tg_len is the threadgroup memory length per index (0 = unset).
typedef struct emu_dispatch {
  const char* kernel;
  void* buf[EMU_MAX_BINDINGS];
  uint32_t tg_len[EMU_MAX_BINDINGS];
  uint32_t grid[3];   // threadgroups per grid
  uint32_t group[3];  // threads per threadgroup
  int order;          // 0 forward, 1 reverse, 2 random
  uint64_t seed;
  int workers;
  int count_loads;    // run the counted kernels (on one worker) and fill regions
  int nregions;
  emu_region regions[EMU_MAX_REGIONS];
  emu_region tg[EMU_MAX_BINDINGS];  // out when counting: loads from threadgroup(i) memory
  uint64_t matrix_multiplies;       // out: 8x8 SIMD-group matrix products executed (per simdgroup)
  char err[2048];     // set when emu_run returns non-zero
} emu_dispatch;

int emu_run(emu_dispatch* d);
const emu_kernel* emu_kernel_at(int i);  // all kernels, product first; NULL past the end
size_t emu_guard_bytes(void);             // guard bytes on each side of every buffer
void emu_poison(void* p, size_t n);       // mark guard bytes unaddressable under ASan
void emu_unpoison(void* p, size_t n);

// ---- Hooks used by the shim (collective operations and barriers). ----

// A lane's mailbox for a collective: its input, its output, an argument
// (shuffle lane, delta, mask). 16 bytes hold any Metal scalar or 4-vector.
typedef struct emu_slot {
  unsigned char in[16];
  unsigned char out[16];
  uint32_t arg;
} emu_slot;

// Computes a collective once all n lanes of a simdgroup arrived; lanes[i] is
// lane i. Returns NULL or a message (e.g. a non-uniform broadcast lane).
typedef const char* (*emu_collective_fn)(emu_slot* const* lanes, int n);

emu_slot* emu_my_slot(void);
void emu_count_matrix_multiply(void);  // one simdgroup_multiply(_accumulate) of a simdgroup

// A SIMD-group matrix function that each lane runs without waiting for the
// others (load, store, fill): the runtime checks that the lanes of a
// simdgroup make the same sequence of such calls, sites and arguments,
// by their next collective, barrier or return, and that the simdgroup is
// whole. Returns the lane's index in its simdgroup.
typedef struct emu_mat_call {
  uintptr_t ptr;  // load, store: the memory
  uint64_t epr, ox, oy;
  int transpose;
  uint32_t fill;  // fill value's bits
  const char* what;
  const char* file;
  int line;
} emu_mat_call;
int emu_mat_note(const emu_mat_call* c);
// A load the shim makes for the kernel (simdgroup_load), counted like the
// kernel's own (the shim itself is not instrumented).
void emu_count_load(uintptr_t addr, size_t size);
void emu_wait_simd(emu_collective_fn fn, const char* what, const char* file, int line);
void emu_wait_barrier(const char* what, const char* file, int line);

#ifdef __cplusplus
}
#endif
#endif
