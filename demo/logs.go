package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// logRecord is one line of a JSON log (mqbroker's and order_srv's slog JSON handlers).
type logRecord map[string]any

// str returns attribute k as text ("" if absent).
func (r logRecord) str(k string) string {
	v, ok := r[k]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func (r logRecord) time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.str("time"))
	return t
}

// logMark is a position in one or more log files (the instances of a service): records
// written after it are news.
type logMark []logPos

// logPos is a position in one log file.
type logPos struct {
	path string
	off  int64
}

// markLog returns the current end of the logs at paths.
func markLog(paths ...string) logMark {
	m := make(logMark, 0, len(paths))
	for _, path := range paths {
		pos := logPos{path: path}
		if fi, err := os.Stat(path); err == nil {
			pos.off = fi.Size()
		}
		m = append(m, pos)
	}
	return m
}

// find returns the first JSON record after m, in any of its files, whose msg is msg and whose
// attributes have the values of attrs (name, value pairs); ok is false if there is none yet.
// Lines that are not JSON (the demo's own separators, a panic trace) are skipped.
func (m logMark) find(msg string, attrs ...string) (rec logRecord, ok bool, err error) {
	for _, pos := range m {
		if rec, ok, err = pos.find(msg, attrs...); ok || err != nil {
			return rec, ok, err
		}
	}
	return nil, false, nil
}

func (m logPos) find(msg string, attrs ...string) (rec logRecord, ok bool, err error) {
	f, err := os.Open(m.path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if _, err := f.Seek(m.off, io.SeekStart); err != nil {
		return nil, false, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	needle := []byte(msg)
	for sc.Scan() {
		b := sc.Bytes()
		if !bytes.Contains(b, needle) || len(b) == 0 || b[0] != '{' {
			continue
		}
		var r logRecord
		if json.Unmarshal(b, &r) != nil || r.str("msg") != msg {
			continue
		}
		match := true
		for i := 0; i+1 < len(attrs); i += 2 {
			if r.str(attrs[i]) != attrs[i+1] {
				match = false
				break
			}
		}
		if match {
			return r, true, nil
		}
	}
	return nil, false, sc.Err()
}
