package main

import "syscall"

// childAttr puts a child in its own process group, so that the terminal's Ctrl-C reaches only
// the demo, which then stops the children in order; and kills the child if the demo dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
