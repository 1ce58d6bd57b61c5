//go:build !unix

package store

import "os"

// fdatasync is a full fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is Linux-only here: the caller extends the file with zeros.
func fallocate(*os.File, int64, int64) error { return errUnsupported }

// mmap is not used on this platform: writes fall back to pwrite.
func mmap(*os.File, int64, int64) ([]byte, error) { return nil, errUnsupported }

func munmap([]byte) error { return nil }
