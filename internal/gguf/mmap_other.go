//go:build !unix

package gguf

import "os"

// mapFile reads the whole file where memory mapping is not implemented.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, unwrapPath(err)
	}
	return data, func() error { return nil }, nil
}
