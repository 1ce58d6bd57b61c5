//go:build !unix

package store

import (
	"fmt"
	"os"
)

// checkReadable reports an error if this process may not read the file at path: a sealed
// segment that Open does not keep open (segment.file) fails Open as one it opens would.
func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: segment %s is not readable: %w", path, err)
	}
	return f.Close()
}
