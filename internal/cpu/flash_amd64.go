//go:build amd64 && !purego

package cpu

//go:noescape
func madF16AVX2(y, x *byte, n int, a float32)

//go:noescape
func scaleF16AVX2(y *byte, n int, s float32)

// madF16RowSIMD sets y[i] = half(fma(x[i], a, y[i])) for the first
// len(y)&^7 halves (little-endian bytes) and returns how many it did (none
// without AVX2).
func madF16RowSIMD(y, x []byte, a float32) int {
	n := rowPrefix(len(y) / 2)
	if n > 0 {
		_ = x[2*n-1]
		madF16AVX2(&y[0], &x[0], n, a)
	}
	return n
}

// scaleF16RowSIMD sets y[i] = half(y[i]*s) for the first len(y)&^7 halves
// and returns how many it did (none without AVX2).
func scaleF16RowSIMD(y []byte, s float32) int {
	n := rowPrefix(len(y) / 2)
	if n > 0 {
		scaleF16AVX2(&y[0], n, s)
	}
	return n
}
