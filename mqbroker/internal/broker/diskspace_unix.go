//go:build unix

package broker

import "syscall"

// diskSpace returns the total and free bytes of the file system holding dir.
func diskSpace(dir string) (total, free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), true
}
