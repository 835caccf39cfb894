//go:build !linux && !darwin

package main

// availableMemory is unknown here: only the allocation limit applies.
func availableMemory() (uint64, bool) { return 0, false }

func cpuInfo() string { return "" }
