//go:build unix && !linux

package main

import (
	"context"
	"errors"
	"time"
)

// netLayout is Linux's (netns_linux.go); elsewhere -partitions netns is refused.
type netLayout struct{ hostIP string }

func netnsSupported() error { return errors.New("-partitions netns needs Linux") }

func newNetLayout(context.Context, int) (*netLayout, error) { return nil, netnsSupported() }

func (l *netLayout) addr(string, int) string                              { return "" }
func (l *netLayout) wrap(_, bin string, args []string) (string, []string) { return bin, args }
func (l *netLayout) drop([]string, []int, time.Duration) error            { return netnsSupported() }
func (l *netLayout) heal(string) error                                    { return nil }
func (l *netLayout) remove()                                              {}
