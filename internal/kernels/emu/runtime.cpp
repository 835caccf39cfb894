//go:build mslemu

// runtime.cpp — runs one Metal dispatch on the CPU.
//
// Threadgroups are handed out to worker OS threads in the schedule's order.
// A worker runs the threads of a threadgroup as fibers on its own OS thread
// (switched by a few instructions of assembly on x86-64 and arm64 Linux, by
// ucontext elsewhere): in each round every runnable fiber runs (in forward, reverse or
// random order) until it reaches a barrier or a SIMD-group function, or
// returns. Then the worker resolves what everyone waits for: a simdgroup whose
// lanes all wait at the same collective gets it computed; when nothing else
// can move, all threads must wait at the same threadgroup_barrier. Anything
// else (lanes at different call sites, some threads returned) is divergence,
// which a GPU would turn into a hang or garbage; it is reported with the call
// sites instead.
#include "runtime.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#endif
#ifndef EMU_ASAN
#define EMU_ASAN 0
#endif

namespace {

const size_t kGuard = 64;  // bytes around every buffer and threadgroup allocation
const size_t kPage = 4096;
const size_t kStack = EMU_ASAN ? (256u << 10) : (64u << 10);  // per emulated thread
const uint32_t kMaxThreads = 1024;                             // per threadgroup
const uint32_t kMaxTgMem = 32768;                              // bytes per threadgroup

// Fiber contexts. glibc's swapcontext saves and restores the signal mask
// with a system call at every switch, and an emulated thread switches at
// every barrier and SIMD-group function and to start: on x86-64 and arm64
// Linux the switch is instead emu_ctx_switch, which saves the callee-saved
// registers on the old stack, stores the stack pointer in *save, loads
// load, pops the registers of the new stack and returns into it; a new
// fiber's stack is laid out as if it had switched away just before entry.
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define EMU_ASM_SWITCH 1
extern "C" void emu_ctx_switch(void** save, void* load);
#if defined(__x86_64__)
// rbp, rbx, r12-r15 (System V); at entry rsp = top - 8, as after a call.
asm(".text\n"
    ".globl emu_ctx_switch\n"
    ".type emu_ctx_switch,@function\n"
    "emu_ctx_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_ctx_switch, .-emu_ctx_switch\n");
const int kSavedWords = 6;  // then the return address
#else
// x19-x29, x30 (the return address) and d8-d15 (AAPCS64).
asm(".text\n"
    ".globl emu_ctx_switch\n"
    ".type emu_ctx_switch,%function\n"
    "emu_ctx_switch:\n"
    "  sub sp, sp, #160\n"
    "  stp x19, x20, [sp, #0]\n  stp x21, x22, [sp, #16]\n  stp x23, x24, [sp, #32]\n"
    "  stp x25, x26, [sp, #48]\n  stp x27, x28, [sp, #64]\n  stp x29, x30, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n  stp d14, d15, [sp, #144]\n"
    "  mov x9, sp\n  str x9, [x0]\n  mov sp, x1\n"
    "  ldp x19, x20, [sp, #0]\n  ldp x21, x22, [sp, #16]\n  ldp x23, x24, [sp, #32]\n"
    "  ldp x25, x26, [sp, #48]\n  ldp x27, x28, [sp, #64]\n  ldp x29, x30, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n  ldp d14, d15, [sp, #144]\n"
    "  add sp, sp, #160\n"
    "  ret\n"
    ".size emu_ctx_switch, .-emu_ctx_switch\n");
#endif

struct FiberCtx {
  void* sp;
};

// ctx_init makes c start entry (which must never return) on the stack.
void ctx_init(FiberCtx* c, char* stack, size_t size, void (*entry)()) {
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
  void** sp = (void**)top;
  *--sp = nullptr;         // entry's return address: none (keeps rsp = 8 mod 16 at entry)
  *--sp = (void*)entry;    // where emu_ctx_switch returns to
  sp -= kSavedWords;
  memset(sp, 0, kSavedWords * sizeof(void*));
  c->sp = sp;
#else
  void** sp = (void**)(top - 160);
  memset(sp, 0, 160);
  sp[11] = (void*)entry;   // x30
  c->sp = sp;
#endif
}

void ctx_swap(FiberCtx* from, FiberCtx* to) { emu_ctx_switch(&from->sp, to->sp); }
#else
#define EMU_ASM_SWITCH 0
struct FiberCtx {
  ucontext_t uc;
};

void ctx_init(FiberCtx* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}

void ctx_swap(FiberCtx* from, FiberCtx* to) { swapcontext(&from->uc, &to->uc); }
#endif

#if EMU_ASAN
// Stack use after return is not looked for (ASAN_OPTIONS can still turn it
// on): its fake stacks are per fiber, so every emulated thread mapped and
// unmapped one, which took most of the run; kernels return no pointers.
extern "C" const char* __asan_default_options() { return "detect_stack_use_after_return=0"; }
#endif

// ASan must be told about stack switches, or it reports false positives.
void fiber_switch_start(void** fake, const void* bottom, size_t size) {
#if EMU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
void fiber_switch_finish(void* fake, const void** bottom, size_t* size) {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}

// Guard bytes of threadgroup(i) memory: NaN words (see guardPattern in
// emu.go), unlike the all-ones fill of the memory itself, so that copying
// uninitialised memory past the end is still noticed.
char tg_guard(int i, size_t b) {
  const unsigned char p[4] = {(unsigned char)(0x80 | i), 0xFD, 0x80, 0xFF};
  return (char)p[b % 4];
}

// FAULTED: the thread made an access it must not (a misaligned load of a
// counted kernel) and is never resumed.
enum State { RUNNABLE, AT_BARRIER, AT_SIMD, DONE, FAULTED };

struct Lane {
  FiberCtx uc;
  State state;
  const char* what;  // the barrier or SIMD-group function waited at
  const char* file;
  int line;
  emu_collective_fn fn;
  emu_slot slot;
  emu_ctx ctx;
  char* stack;
  uint32_t mat_calls;  // SIMD-group matrix functions noted (emu_mat_note)
};

std::string site(const char* what, const char* file, int line) {
  const char* f = strrchr(file, '/');
  return std::string(what) + " (" + (f ? f + 1 : file) + ":" + std::to_string(line) + ")";
}

std::string site(const Lane& l) { return site(l.what, l.file, l.line); }

bool same_wait(const Lane& a, const Lane& b) {
  if (a.state != b.state) return false;
  if (a.state == DONE) return true;
  return a.fn == b.fn && a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0) &&
         (a.what == b.what || strcmp(a.what, b.what) == 0);
}

// "threads 0-31 wait at simd_sum (x.metal:12); threads 32-63 returned"
std::string describe(const std::vector<Lane>& lanes, int from, int to, const char* noun) {
  std::vector<bool> seen(to - from);
  std::string out;
  for (int i = from; i < to; i++) {
    if (seen[i - from]) continue;
    std::string ids;
    int run = -1;  // start of the current run of consecutive ids
    for (int j = i; j <= to; j++) {
      bool in = j < to && !seen[j - from] && same_wait(lanes[i], lanes[j]);
      if (in) {
        seen[j - from] = true;
        if (run < 0) run = j;
      } else if (run >= 0) {
        if (!ids.empty()) ids += ",";
        ids += std::to_string(run - from) + (j - 1 > run ? "-" + std::to_string(j - 1 - from) : "");
        run = -1;
      }
    }
    if (!out.empty()) out += "; ";
    out += std::string(noun) + " " + ids + (lanes[i].state == DONE ? " returned" : " wait at " + site(lanes[i]));
  }
  return out;
}

// Fiber stacks: kMaxThreads of kStack bytes, each above a guard page, in
// one mapping. Workers take one and give it back, so that a dispatch runs on
// stacks whose pages earlier dispatches already faulted in: mapping fresh
// stacks for every dispatch spent more time in page faults than in the
// kernels. At most kPoolMax idle mappings are kept.
const size_t kStacksLen = kMaxThreads * (kStack + kPage);
const size_t kPoolMax = 8;
std::mutex stacks_mu;
std::vector<char*> stacks_pool;

char* take_stacks() {
  {
    std::lock_guard<std::mutex> lock(stacks_mu);
    if (!stacks_pool.empty()) {
      char* s = stacks_pool.back();
      stacks_pool.pop_back();
      return s;
    }
  }
  char* s = (char*)mmap(nullptr, kStacksLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (s == MAP_FAILED) {
    perror("emu: mmap fiber stacks");
    abort();
  }
  for (uint32_t i = 0; i < kMaxThreads; i++) mprotect(s + i * (kStack + kPage), kPage, PROT_NONE);  // overflow hits the guard page
  return s;
}

void give_stacks(char* s) {
  std::lock_guard<std::mutex> lock(stacks_mu);
  if (stacks_pool.size() < kPoolMax) {
    stacks_pool.push_back(s);
  } else {
    munmap(s, kStacksLen);
  }
}

// The worker threads of multi-worker dispatches, kept between dispatches:
// a thread per dispatch cost its creation and, under ASan, the mapping and
// unmapping of its fake stack, more than many dispatches' work. run(extra,
// fn) runs fn on extra pool threads and on the caller, and returns when all
// have returned. One dispatch at a time uses the pool (pool_busy).
class ThreadPool {
 public:
  void run(size_t extra, const std::function<void()>& fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (threads_ < extra) {
        std::thread([this] { loop(); }).detach();  // lives as long as the process
        threads_++;
      }
      job_ = &fn;
      tickets_ = extra;
    }
    wake_.notify_all();
    fn();
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return tickets_ == 0 && active_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return tickets_ > 0; });
      tickets_--;
      active_++;
      const std::function<void()>* job = job_;
      lock.unlock();
      (*job)();
      lock.lock();
      if (--active_ == 0 && tickets_ == 0) idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, idle_;
  size_t threads_ = 0, tickets_ = 0, active_ = 0;
  const std::function<void()>* job_ = nullptr;
};

std::mutex pool_busy;
ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool;  // never destroyed: its threads outlive main
  return *p;
}

// LoadCounter records the loads of a dispatch of a counted kernel (see
// emu_region): the instrumented kernels call count_load for every load,
// and the loads that fall into a region of the dispatch are logged per
// threadgroup. At the end of each threadgroup the log is grouped into
// simdgroup instructions (lanes of one simdgroup at the k-th execution of
// one load site), whose bytes are counted once each.
class LoadCounter {
 public:
  LoadCounter(emu_dispatch* d, uint32_t threads) : runs_(threads) {
    for (int r = 0; r < d->nregions; r++) add(&d->regions[r]);
  }

  // Counts the loads from g too (threadgroup memory, once the worker has
  // allocated it).
  void add(emu_region* g) {
    g->loads = g->bytes = g->simd_loads = g->simd_bytes = g->unique = g->max_reads = 0;
    regs_.push_back(g);
    reads_.emplace_back(g->len, 0);
  }

  // A load by lane of size bytes at addr from site; aligned: the kernel
  // declared the type's alignment to be its size.
  void load(uint32_t lane, const void* addr, size_t size, bool aligned, const void* site) {
    uintptr_t a = (uintptr_t)addr;
    for (int r = 0; r < (int)regs_.size(); r++) {
      emu_region& g = *regs_[r];
      uintptr_t base = (uintptr_t)g.base;
      if (a < base || a >= base + g.len) continue;
      if (aligned && a % size != 0) {
        fault = "a " + std::to_string(size) + "-byte load at byte " + std::to_string(a - base) + " of " + g.name +
                " is not aligned to its size (thread " + std::to_string(lane) + ")";
        return;
      }
      g.loads++;
      g.bytes += size;
      uint32_t k = ++runs_[lane][(uintptr_t)site];
      log_.push_back(Access{r, lane / EMU_SIMD_WIDTH, (uintptr_t)site, k, a - base,
                            (uint32_t)std::min<uintptr_t>(size, base + g.len - a)});
      return;
    }
  }

  // Ends a threadgroup: counts its simdgroup instructions.
  void flush() {
    std::sort(log_.begin(), log_.end(), [](const Access& x, const Access& y) {
      return std::tie(x.region, x.sg, x.site, x.k, x.off) < std::tie(y.region, y.sg, y.site, y.k, y.off);
    });
    std::vector<uintptr_t> bytes;
    for (size_t i = 0; i < log_.size();) {
      size_t j = i;
      bytes.clear();
      for (; j < log_.size() && log_[j].same_instruction(log_[i]); j++)
        for (uint32_t b = 0; b < log_[j].size; b++) bytes.push_back(log_[j].off + b);
      std::sort(bytes.begin(), bytes.end());
      bytes.erase(std::unique(bytes.begin(), bytes.end()), bytes.end());
      emu_region& g = *regs_[log_[i].region];
      g.simd_loads++;
      g.simd_bytes += bytes.size();
      for (uintptr_t b : bytes) reads_[log_[i].region][b]++;
      i = j;
    }
    log_.clear();
    for (auto& m : runs_) m.clear();
  }

  // Ends the dispatch: fills in the per-byte figures.
  void finish() {
    for (size_t r = 0; r < regs_.size(); r++) {
      emu_region& g = *regs_[r];
      for (uint32_t n : reads_[r]) {
        g.unique += n > 0;
        g.max_reads = std::max<uint64_t>(g.max_reads, n);
      }
    }
  }

 private:
  struct Access {
    int region;
    uint32_t sg;
    uintptr_t site;
    uint32_t k;
    uintptr_t off;
    uint32_t size;
    bool same_instruction(const Access& o) const {
      return region == o.region && sg == o.sg && site == o.site && k == o.k;
    }
  };
  std::vector<emu_region*> regs_;                               // the dispatch's regions, then threadgroup memory
  std::vector<std::unordered_map<uintptr_t, uint32_t>> runs_;  // per lane: executions of each load site
  std::vector<Access> log_;                                     // this threadgroup's loads
  std::vector<std::vector<uint32_t>> reads_;                    // per region and byte: instructions that read it

 public:
  std::string fault;  // set by a load the thread must not make
};

struct Worker;
// The worker whose fibers run on this OS thread: the shim's hooks are free
// functions and find their lane through it.
thread_local Worker* tl_worker;

void fiber_main();

struct Worker {
  const emu_dispatch* d;
  const emu_kernel* k;
  uint32_t n;  // threads per threadgroup
  std::vector<Lane> lanes;
  char* stacks = nullptr;  // kMaxThreads stacks, from take_stacks
  char* tg[EMU_MAX_BINDINGS] = {};  // threadgroup memory, kGuard bytes before and after
  FiberCtx sched;
  const void* sched_bottom = nullptr;  // the scheduler's stack, for ASan
  size_t sched_size = 0;
  Lane* cur = nullptr;
  LoadCounter* counter = nullptr;  // set when the dispatch counts its loads
  uint64_t matrix_multiplies = 0;
  std::vector<std::vector<emu_mat_call>> mat_log;  // per simdgroup: the matrix calls noted
  std::string fault;                               // what a FAULTED lane did
  std::string err;

  Worker(const emu_dispatch* d, const emu_kernel* k) : d(d), k(k), lanes(d->group[0] * d->group[1] * d->group[2]) {
    n = (uint32_t)lanes.size();
    memset(&sched, 0, sizeof sched);
    stacks = take_stacks();
    for (uint32_t i = 0; i < n; i++) lanes[i].stack = stacks + i * (kStack + kPage) + kPage;
    for (int i = 0; i < EMU_MAX_BINDINGS; i++) {
      if (!d->tg_len[i]) continue;
      tg[i] = (char*)malloc(d->tg_len[i] + 2 * kGuard);
      for (size_t b = 0; b < kGuard; b++) tg[i][b] = tg[i][kGuard + d->tg_len[i] + b] = tg_guard(i, b);
      emu_poison(tg[i], kGuard);
      emu_poison(tg[i] + kGuard + d->tg_len[i], kGuard);
    }
    emu_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    for (int i = 0; i < EMU_MAX_BINDINGS; i++) {
      ctx.buf[i] = d->buf[i];
      ctx.tg[i] = tg[i] ? tg[i] + kGuard : nullptr;
    }
    for (Lane& l : lanes) l.ctx = ctx;
  }

  ~Worker() {
    give_stacks(stacks);
    for (int i = 0; i < EMU_MAX_BINDINGS; i++) {
      if (!tg[i]) continue;
      emu_unpoison(tg[i], d->tg_len[i] + 2 * kGuard);
      free(tg[i]);
    }
  }

  // Scheduler -> fiber; returns when the fiber yields or returns.
  void resume(Lane* l) {
    cur = l;
    void* fake = nullptr;
    fiber_switch_start(&fake, l->stack, kStack);
    ctx_swap(&sched, &l->uc);
    fiber_switch_finish(fake, nullptr, nullptr);
  }

  // Fiber -> scheduler.
  void yield(State s, emu_collective_fn fn, const char* what, const char* file, int line) {
    Lane* l = cur;
    l->state = s, l->fn = fn, l->what = what, l->file = file, l->line = line;
    void* fake = nullptr;
    fiber_switch_start(&fake, sched_bottom, sched_size);
    ctx_swap(&l->uc, &sched);
    fiber_switch_finish(fake, nullptr, nullptr);
  }

  bool fail(const uint32_t* pos, const std::string& msg) {
    err = std::string(k->name) + ": threadgroup (" + std::to_string(pos[0]) + "," + std::to_string(pos[1]) + "," +
          std::to_string(pos[2]) + "): " + msg;
    return false;
  }

  // Whether lanes [s, e) of a simdgroup noted the same number of matrix
  // calls (emu_mat_note checked that they agree as far as each got);
  // false: fault says which lanes made fewer.
  bool mat_uniform(uint32_t s, uint32_t e) {
    for (uint32_t i = s; i < e; i++) {
      if (lanes[i].mat_calls == lanes[s].mat_calls) continue;
      const uint32_t most = std::max(lanes[i].mat_calls, lanes[s].mat_calls);
      const emu_mat_call& c = mat_log[s / EMU_SIMD_WIDTH][most - 1];
      fault = "simdgroup " + std::to_string(s / EMU_SIMD_WIDTH) + ": lane " + std::to_string(i - s) + " made " +
              std::to_string(lanes[i].mat_calls) + " SIMD-group matrix calls and lane 0 " +
              std::to_string(lanes[s].mat_calls) + ", the last " + site(c.what, c.file, c.line) +
              " -- a SIMD-group matrix function in divergent control flow";
      return false;
    }
    return true;
  }

  // Notes the current lane's matrix call (emu_mat_note); "" or what is wrong.
  std::string mat_note(const emu_mat_call* c, int* lane) {
    const uint32_t i = (uint32_t)(cur - lanes.data()), s = i / EMU_SIMD_WIDTH * EMU_SIMD_WIDTH;
    *lane = (int)(i - s);
    auto where = [&] { return "simdgroup " + std::to_string(s / EMU_SIMD_WIDTH) + ": " + site(c->what, c->file, c->line) + ": "; };
    if (std::min(n, s + EMU_SIMD_WIDTH) - s != EMU_SIMD_WIDTH)
      return where() + "a SIMD-group matrix function needs all 32 lanes of the simdgroup (the threadgroup ends mid-simdgroup)";
    std::vector<emu_mat_call>& log = mat_log[s / EMU_SIMD_WIDTH];
    if (cur->mat_calls == log.size()) {
      log.push_back(*c);
    } else {
      const emu_mat_call& f = log[cur->mat_calls];
      if (f.line != c->line || (f.file != c->file && strcmp(f.file, c->file) != 0) ||
          (f.what != c->what && strcmp(f.what, c->what) != 0))
        return where() + "another lane called " + site(f.what, f.file, f.line) +
               " there -- a SIMD-group matrix function in divergent control flow";
      if (f.ptr != c->ptr || f.epr != c->epr || f.ox != c->ox || f.oy != c->oy || f.transpose != c->transpose ||
          f.fill != c->fill)
        return where() + "the lanes of the simdgroup pass different arguments to a SIMD-group matrix function";
    }
    cur->mat_calls++;
    return std::string();
  }

  // Runs one threadgroup to completion. false: err is set.
  bool run_group(const uint32_t pos[3], uint64_t lane_seed) {
    const uint32_t* g = d->group;
    for (int i = 0; i < EMU_MAX_BINDINGS; i++)
      if (tg[i]) memset(tg[i] + kGuard, 0xFF, d->tg_len[i]);  // NaN: reads before writes show
    for (uint32_t i = 0; i < n; i++) {
      Lane& l = lanes[i];
      uint32_t t[3] = {i % g[0], i / g[0] % g[1], i / (g[0] * g[1])};
      uint32_t(*bi)[3] = l.ctx.bi;
      for (int a = 0; a < 3; a++) {
        bi[EMU_BI_TPITG][a] = t[a];
        bi[EMU_BI_TGPIG][a] = pos[a];
        bi[EMU_BI_TPIG][a] = pos[a] * g[a] + t[a];
        bi[EMU_BI_NTG][a] = g[a];
        bi[EMU_BI_NGRID][a] = d->grid[a];
        bi[EMU_BI_TPG][a] = d->grid[a] * g[a];
      }
      bi[EMU_BI_TIITG][0] = i;
      bi[EMU_BI_TIISG][0] = i % EMU_SIMD_WIDTH;
      bi[EMU_BI_SGITG][0] = i / EMU_SIMD_WIDTH;
      bi[EMU_BI_NSG][0] = (n + EMU_SIMD_WIDTH - 1) / EMU_SIMD_WIDTH;
      bi[EMU_BI_WIDTH][0] = EMU_SIMD_WIDTH;
      l.state = RUNNABLE;
      l.mat_calls = 0;
      emu_unpoison(l.stack, kStack);  // a fiber abandoned after an error may leave poison
      ctx_init(&l.uc, l.stack, kStack, fiber_main);
    }

    mat_log.assign((n + EMU_SIMD_WIDTH - 1) / EMU_SIMD_WIDTH, {});
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; i++) order[i] = d->order == 1 ? n - 1 - i : i;
    std::mt19937_64 rng(lane_seed);
    for (;;) {
      if (d->order == 2) std::shuffle(order.begin(), order.end(), rng);
      for (uint32_t i : order) {
        if (lanes[i].state == RUNNABLE) resume(&lanes[i]);
        if (lanes[i].state == FAULTED) return fail(pos, lanes[i].what);
      }

      bool moved = false, all_done = true;
      for (uint32_t s = 0; s < n; s += EMU_SIMD_WIDTH) {
        uint32_t e = std::min(n, s + EMU_SIMD_WIDTH);
        bool any_simd = false, uniform = true;
        for (uint32_t i = s; i < e; i++) {
          any_simd |= lanes[i].state == AT_SIMD;
          uniform &= same_wait(lanes[i], lanes[s]);
          all_done &= lanes[i].state == DONE;
        }
        if (!any_simd) continue;
        if (!uniform)
          return fail(pos, "simdgroup " + std::to_string(s / EMU_SIMD_WIDTH) + ": " +
                               describe(lanes, s, e, "lanes") +
                               " -- a SIMD-group function or barrier in divergent control flow");
        if (!mat_uniform(s, e)) return fail(pos, fault);
        emu_slot* slots[EMU_SIMD_WIDTH];
        for (uint32_t i = s; i < e; i++) slots[i - s] = &lanes[i].slot;
        if (const char* msg = lanes[s].fn(slots, e - s)) return fail(pos, site(lanes[s]) + ": " + msg);
        for (uint32_t i = s; i < e; i++) lanes[i].state = RUNNABLE;
        moved = true;
      }
      if (moved) continue;
      for (uint32_t s = 0; s < n; s += EMU_SIMD_WIDTH)
        if (!mat_uniform(s, std::min(n, s + EMU_SIMD_WIDTH))) return fail(pos, fault);
      if (all_done) break;

      // Nobody waits for a collective: everyone left must be at one barrier.
      bool uniform = true;
      for (uint32_t i = 0; i < n; i++) uniform &= same_wait(lanes[i], lanes[0]);
      if (!uniform)
        return fail(pos, describe(lanes, 0, n, "threads") +
                             " -- threadgroup_barrier in divergent control flow (a GPU would hang or misbehave)");
      for (Lane& l : lanes) l.state = RUNNABLE;
    }

    // Under ASan the guards are poisoned (ASan reports the access itself).
    for (int i = 0; i < EMU_MAX_BINDINGS && !EMU_ASAN; i++) {
      if (!tg[i]) continue;
      const unsigned char* p = (const unsigned char*)tg[i];
      for (size_t b = 0; b < kGuard; b++)
        if (p[b] != (unsigned char)tg_guard(i, b) || p[kGuard + d->tg_len[i] + b] != (unsigned char)tg_guard(i, b))
          return fail(pos, "wrote outside threadgroup(" + std::to_string(i) + ") memory of " +
                               std::to_string(d->tg_len[i]) + " bytes");
    }
    if (counter) counter->flush();
    return true;
  }
};

void fiber_main() {
  Worker* w = tl_worker;
  fiber_switch_finish(nullptr, &w->sched_bottom, &w->sched_size);
  w->k->fn(&w->cur->ctx);
  w->cur->state = DONE;
  fiber_switch_start(nullptr, w->sched_bottom, w->sched_size);  // this fiber ends
  ctx_swap(&w->cur->uc, &w->sched);
  abort();  // never resumed
}

Worker* current(const char* what) {
  if (!tl_worker || !tl_worker->cur) {
    fprintf(stderr, "emu: %s called outside an emulated dispatch\n", what);
    abort();
  }
  return tl_worker;
}

const emu_kernel* find_kernel(const char* name, bool counted) {
  if (counted) {
    for (const emu_kernel* k = emu_kernels_counted; k->name; k++)
      if (strcmp(k->name, name) == 0) return k;
    return nullptr;
  }
  for (int i = 0; const emu_kernel* k = emu_kernel_at(i); i++)
    if (strcmp(k->name, name) == 0) return k;
  return nullptr;
}

// A load of size bytes at addr by the current emulated thread, from the
// load site (return address) site of a counted kernel; aligned: see
// LoadCounter::load.
void count_load(const void* addr, size_t size, bool aligned, const void* site) {
  Worker* w = tl_worker;
  if (!w || !w->counter || !w->cur) return;
  w->counter->load((uint32_t)(w->cur - w->lanes.data()), addr, size, aligned, site);
  if (!w->counter->fault.empty()) {
    // The load would fault on x86-64 too (an aligned vector move): stop the
    // thread before it runs.
    w->yield(FAULTED, nullptr, w->counter->fault.c_str(), "", 0);
    abort();  // never resumed
  }
}

// Checks what Metal would reject or what the kernel cannot run without.
std::string validate(const emu_dispatch* d, const emu_kernel* k) {
  uint64_t threads = 1, groups = 1, tgmem = 0;
  for (int a = 0; a < 3; a++) {
    if (d->group[a] == 0 || d->grid[a] == 0) return "grid and threadgroup sizes must be at least 1 in every dimension";
    threads *= d->group[a];
    groups *= d->grid[a];
  }
  if (threads > kMaxThreads) return std::to_string(threads) + " threads per threadgroup exceed the limit of 1024";
  if (groups > 0xffffffffu) return "too many threadgroups";
  for (int i = 0; i < EMU_MAX_BINDINGS; i++) {
    if ((k->buffers >> i & 1) && !d->buf[i]) return "buffer(" + std::to_string(i) + ") is not bound";
    if ((k->tgmem >> i & 1) && !d->tg_len[i]) return "threadgroup(" + std::to_string(i) + ") memory length is not set";
    if (d->tg_len[i] % 16) return "threadgroup(" + std::to_string(i) + ") memory length is not a multiple of 16 bytes";
    tgmem += d->tg_len[i];
  }
  if (tgmem > kMaxTgMem) return std::to_string(tgmem) + " bytes of threadgroup memory exceed the limit of 32768";
  return "";
}

#if EMU_ASAN
// ASan aborts the process on an error; say which emulated thread caused it
// (the report's stack has no .metal lines when go test strips symbols).
void on_asan_death() {
  Worker* w = tl_worker;
  if (!w || !w->cur) return;
  const uint32_t(*bi)[3] = w->cur->ctx.bi;
  fprintf(stderr, "emu: the error above happened in kernel %s, threadgroup (%u,%u,%u), thread %u\n", w->k->name,
          bi[EMU_BI_TGPIG][0], bi[EMU_BI_TGPIG][1], bi[EMU_BI_TGPIG][2], bi[EMU_BI_TIITG][0]);
}
#endif

}  // namespace

extern "C" {

const emu_kernel* emu_kernel_at(int i) {
  for (const emu_kernel* t : {emu_kernels_product, emu_kernels_testdata})
    for (; t->name; t++)
      if (i-- == 0) return t;
  return nullptr;
}

size_t emu_guard_bytes(void) { return kGuard; }

void emu_poison(void* p, size_t n) {
#if EMU_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

void emu_unpoison(void* p, size_t n) {
#if EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

emu_slot* emu_my_slot(void) { return &current("a SIMD-group function")->cur->slot; }

void emu_count_load(uintptr_t addr, size_t size) { count_load((const void*)addr, size, true, __builtin_return_address(0)); }

int emu_mat_note(const emu_mat_call* c) {
  Worker* w = current(c->what);
  int lane = 0;
  std::string msg = w->mat_note(c, &lane);
  if (!msg.empty()) {
    w->fault = msg;
    w->yield(FAULTED, nullptr, w->fault.c_str(), "", 0);
    abort();  // never resumed
  }
  return lane;
}

void emu_count_matrix_multiply(void) { current("a SIMD-group matrix product")->matrix_multiplies++; }

void emu_wait_simd(emu_collective_fn fn, const char* what, const char* file, int line) {
  current(what)->yield(AT_SIMD, fn, what, file, line);
}

void emu_wait_barrier(const char* what, const char* file, int line) {
  current(what)->yield(AT_BARRIER, nullptr, what, file, line);
}

int emu_run(emu_dispatch* d) {
#if EMU_ASAN
  static std::once_flag once;
  std::call_once(once, [] { __sanitizer_set_death_callback(on_asan_death); });
#endif
  std::string err;
  const emu_kernel* k = find_kernel(d->kernel, d->count_loads);
  if (!k) err = std::string(d->count_loads ? "no counted build of kernel " : "unknown kernel ") + d->kernel;
  else if (!(err = validate(d, k)).empty()) err = std::string(k->name) + ": " + err;
  if (!err.empty()) {
    snprintf(d->err, sizeof d->err, "%s", err.c_str());
    return 1;
  }

  // Threadgroups in schedule order, shared out to the workers.
  const uint32_t* G = d->grid;
  std::vector<uint32_t> groups(G[0] * G[1] * G[2]);
  for (uint32_t i = 0; i < groups.size(); i++) groups[i] = d->order == 1 ? (uint32_t)groups.size() - 1 - i : i;
  if (d->order == 2) std::shuffle(groups.begin(), groups.end(), std::mt19937_64(d->seed));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  // Counting runs on one worker: the counter is not shared.
  std::unique_ptr<LoadCounter> counter;
  if (d->count_loads) counter.reset(new LoadCounter(d, d->group[0] * d->group[1] * d->group[2]));

  std::atomic<uint64_t> multiplies{0};
  auto work = [&] {
    Worker w(d, k);
    w.counter = counter.get();
    if (w.counter)
      for (int i = 0; i < EMU_MAX_BINDINGS; i++) {
        if (!w.tg[i]) continue;
        emu_region& g = d->tg[i];
        g.base = w.tg[i] + kGuard;
        g.len = d->tg_len[i];
        g.name = "threadgroup memory";
        w.counter->add(&g);
      }
    tl_worker = &w;
    for (size_t j; !failed && (j = next++) < groups.size();) {
      uint32_t g = groups[j];
      uint32_t pos[3] = {g % G[0], g / G[0] % G[1], g / (G[0] * G[1])};
      if (!w.run_group(pos, d->seed ^ (g + 1) * 0x9E3779B97F4A7C15ull)) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed) err = w.err;
        failed = true;
      }
    }
    multiplies += w.matrix_multiplies;
    tl_worker = nullptr;
  };
  size_t nworkers = std::max(1, std::min(d->workers, 16));
  nworkers = std::min(nworkers, groups.size());
  if (counter) nworkers = 1;
  if (nworkers == 1) {
    work();
  } else if (pool_busy.try_lock()) {
    pool().run(nworkers - 1, work);
    pool_busy.unlock();
  } else {  // another dispatch runs concurrently on the pool
    std::vector<std::thread> threads;
    for (size_t i = 1; i < nworkers; i++) threads.emplace_back(work);
    work();
    for (std::thread& t : threads) t.join();
  }

  if (failed) {
    snprintf(d->err, sizeof d->err, "%s", err.c_str());
    return 1;
  }
  if (counter) counter->finish();
  d->matrix_multiplies = multiplies;
  return 0;
}

// ---- Callbacks of the counted kernels' instrumentation (package counted is
// built with -fsanitize=thread, without ThreadSanitizer's runtime: these
// stand in for it). Loads are counted; everything else does only what the
// memory functions must do. The instrumentation calls the unaligned
// variant where the declared alignment is below the size and below 8.
void __tsan_init(void) {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit(void) {}
#define EMU_TSAN_ACCESS(n)                                                                         \
  void __tsan_read##n(void* a) { count_load(a, n, true, __builtin_return_address(0)); }            \
  void __tsan_unaligned_read##n(void* a) { count_load(a, n, false, __builtin_return_address(0)); } \
  void __tsan_write##n(void*) {}                                                                   \
  void __tsan_unaligned_write##n(void*) {}
EMU_TSAN_ACCESS(1)
EMU_TSAN_ACCESS(2)
EMU_TSAN_ACCESS(4)
EMU_TSAN_ACCESS(8)
EMU_TSAN_ACCESS(16)
#undef EMU_TSAN_ACCESS
void __tsan_read_range(void* a, size_t n) { count_load(a, n, false, __builtin_return_address(0)); }
void __tsan_write_range(void*, size_t) {}
void* __tsan_memset(void* p, int c, size_t n) { return memset(p, c, n); }
void* __tsan_memcpy(void* d, const void* s, size_t n) { return memcpy(d, s, n); }
void* __tsan_memmove(void* d, const void* s, size_t n) { return memmove(d, s, n); }

}  // extern "C"
