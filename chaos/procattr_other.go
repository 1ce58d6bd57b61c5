//go:build unix && !linux

package main

import "syscall"

// childProcAttr: no parent-death signal outside Linux; stop ends the programs.
func childProcAttr() *syscall.SysProcAttr { return nil }
