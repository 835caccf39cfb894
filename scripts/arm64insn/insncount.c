/*
 * A qemu TCG plugin that counts the guest instructions a user-mode run
 * executes and prints the total at exit ("insns: N", with -d plugin).
 * With the argument tbs=on (-plugin insncount.so,tbs=on) it also prints
 * each translation block's guest address and the instructions executed in
 * it ("tb ADDR N", hexadecimal address), which count.sh's TOP mode turns
 * into a per-function profile.
 * Debian's qemu-user ships no plugins (libinsn.so is not packaged), so
 * count.sh builds this one. It declares the few functions of qemu's plugin
 * API (version 1, qemu 7) it calls instead of including qemu-plugin.h,
 * which no Debian package installs.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int vcpu_index, void *userdata),
	enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *userdata), void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Guest threads run on several host threads: the counts are atomic. */
static _Atomic uint64_t executed;

/* A translation block's executions, with tbs=on. Blocks are never freed:
 * a user-mode run translates each a few times at most. */
struct block {
	uint64_t vaddr, insns;
	_Atomic uint64_t runs;
	struct block *next;
};
static struct block *_Atomic blocks;
static int per_block;

/* Each execution of a translation block adds its instruction count. */
static void on_exec(unsigned int vcpu_index, void *insns)
{
	atomic_fetch_add_explicit(&executed, (uint64_t)(uintptr_t)insns, memory_order_relaxed);
}

static void on_exec_block(unsigned int vcpu_index, void *userdata)
{
	struct block *b = userdata;
	atomic_fetch_add_explicit(&b->runs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&executed, b->insns, memory_order_relaxed);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct block *b;

	if (!per_block || !(b = calloc(1, sizeof *b))) {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
			(void *)(uintptr_t)n);
		return;
	}
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	b->insns = n;
	b->next = atomic_load(&blocks);
	while (!atomic_compare_exchange_weak(&blocks, &b->next, b))
		;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec_block, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void on_end(qemu_plugin_id_t id, void *userdata)
{
	char line[64];
	for (struct block *b = atomic_load(&blocks); b; b = b->next) {
		uint64_t runs = atomic_load(&b->runs);
		if (runs) {
			snprintf(line, sizeof line, "tb %llx %llu\n", (unsigned long long)b->vaddr,
				(unsigned long long)(runs * b->insns));
			qemu_plugin_outs(line);
		}
	}
	snprintf(line, sizeof line, "insns: %llu\n", (unsigned long long)atomic_load(&executed));
	qemu_plugin_outs(line);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
	const void *info, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		per_block |= strcmp(argv[i], "tbs=on") == 0;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_end, NULL);
	return 0;
}
