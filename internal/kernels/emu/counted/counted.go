//go:build mslemu

package counted

/*
#cgo CXXFLAGS: -std=c++14 -fno-omit-frame-pointer -I${SRCDIR}/.. -I${SRCDIR}/../shim -fsanitize=thread
#cgo CXXFLAGS: -Wall -Wno-unknown-attributes -Wno-unused-function -Wno-unused-variable
#cgo amd64 CXXFLAGS: -march=x86-64-v3
*/
import "C"

import (
	// The glue includes the product .metal files and their headers from
	// package kernels, which the go command does not track as inputs of
	// this package: importing the package that embeds them puts them into
	// this package's build hash (the shim and runtime.h are hashed into the
	// glue itself).
	_ "github.com/quant-llm/quant/internal/kernels"
)
