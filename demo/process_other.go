//go:build !unix

package main

import "syscall"

// childAttr: no process groups here; the children get the console's Ctrl-C too.
func childAttr() *syscall.SysProcAttr { return nil }
