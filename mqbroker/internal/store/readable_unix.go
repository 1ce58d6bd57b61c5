//go:build unix

package store

import (
	"fmt"
	"syscall"
)

// checkReadable reports an error if this process may not read the file at path: a sealed
// segment that Open does not open (segment.file) fails Open as one it opens would.
func checkReadable(path string) error {
	if err := syscall.Access(path, 4 /* R_OK */); err != nil {
		return fmt.Errorf("store: segment %s is not readable: %w", path, err)
	}
	return nil
}
