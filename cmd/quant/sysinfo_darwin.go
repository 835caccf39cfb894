package main

import "golang.org/x/sys/unix"

// availableMemory is the machine's physical memory: macOS compresses and
// swaps rather than report a free figure a process can rely on, and Apple
// GPUs share this memory.
func availableMemory() (uint64, bool) {
	n, err := unix.SysctlUint64("hw.memsize")
	return n, err == nil
}

// cpuInfo is the processor's name, as llama-bench reports it.
func cpuInfo() string {
	s, _ := unix.Sysctl("machdep.cpu.brand_string")
	return s
}
