//go:build unix

package store

import "syscall"

// diskUsage returns the used and total bytes of the file system holding dir. Used counts
// blocks reserved for root as used (total - available to unprivileged users), as df does.
func diskUsage(dir string) (used, total uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bs := uint64(st.Bsize)
	total = uint64(st.Blocks) * bs
	free := uint64(st.Bfree) * bs
	avail := uint64(st.Bavail) * bs
	used = total - free
	return used, used + avail, true
}
