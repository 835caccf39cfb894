/*
 * A qemu TCG plugin that counts the guest instructions a user-mode run
 * executes and prints the total at exit ("insns: N", with -d plugin).
 * Debian's qemu-user ships no plugins (libinsn.so is not packaged), so
 * count.sh builds this one. It declares the few functions of qemu's plugin
 * API (version 1, qemu 7) it calls instead of including qemu-plugin.h,
 * which no Debian package installs.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int vcpu_index, void *userdata),
	enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *userdata), void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Guest threads run on several host threads: the count is atomic. */
static _Atomic uint64_t executed;

/* Each execution of a translation block adds its instruction count. */
static void on_exec(unsigned int vcpu_index, void *insns)
{
	atomic_fetch_add_explicit(&executed, (uint64_t)(uintptr_t)insns, memory_order_relaxed);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
		(void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void on_exit(qemu_plugin_id_t id, void *userdata)
{
	char line[64];
	snprintf(line, sizeof line, "insns: %llu\n", (unsigned long long)atomic_load(&executed));
	qemu_plugin_outs(line);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
	const void *info, int argc, char **argv)
{
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_exit, NULL);
	return 0;
}
