//go:build unix && !linux

package store

import (
	"os"
	"syscall"
)

// fdatasync is a full fsync where fdatasync is not available (on macOS,
// (*os.File).Sync asks the drive to flush its cache: F_FULLFSYNC).
func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is Linux-only here: the caller extends the file with zeros.
func fallocate(*os.File, int64, int64) error { return errUnsupported }

func mmap(f *os.File, off, n int64) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), off, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
}

func munmap(b []byte) error { return syscall.Munmap(b) }
