//go:build !amd64 || purego

package cpu

// f16RowSIMD converts nothing: this build has no assembly row kernels.
func f16RowSIMD(x []float32, dst []byte) int { return 0 }

// expfRowSIMD computes nothing: this build has no assembly row kernels.
func expfRowSIMD(dst, src []float32, k, sub float32) int { return 0 }

// scaleRowSIMD scales nothing: this build has no assembly row kernels.
func scaleRowSIMD(x []float32, s float32) int { return 0 }

// madRowSIMD computes nothing: this build has no assembly row kernels.
func madRowSIMD(y, x []float32, n int, a float32) int { return 0 }
