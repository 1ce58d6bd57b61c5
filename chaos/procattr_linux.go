//go:build linux

package main

import "syscall"

// childProcAttr makes the kernel SIGKILL a program when the campaign dies (kill -9 of chaos, a
// panic): no orphaned broker or service, and with -partitions netns nothing keeps a namespace
// alive. `ip netns exec` execs the program, so the setting reaches it. (Pdeathsig fires when the
// OS thread that started the child exits; the Go runtime does not end its threads here.)
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
