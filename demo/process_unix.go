//go:build unix && !linux

package main

import "syscall"

// childAttr puts a child in its own process group, so that the terminal's Ctrl-C reaches only
// the demo, which then stops the children in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
