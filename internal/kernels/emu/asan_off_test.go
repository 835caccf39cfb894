//go:build mslemu && !mslemu_asan

package emu

const asanBuild = false
