package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// BenchmarkPut appends 1 KiB messages from parallel goroutines (16 per core, like many
// producers), one message per Put. cpu-ns/op is the process's CPU time (user + system, the
// flusher and page faults included) per Put, user-ns/op its user part: on a shared, loaded
// machine they are the numbers to compare, not ns/op.
func BenchmarkPut(b *testing.B) {
	for _, mode := range []FlushMode{FlushAsync, FlushSync} {
		b.Run(mode.String(), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Flush: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := make([]byte, 1024)
			props := map[string]string{message.PropTags: "TagA", message.PropUniqKey: "C0000202108700000000680190880001"}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			cpu, user := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				m := newMsg("bench", 0, "", props)
				m.Body = body
				for pb.Next() {
					if _, err := s.Put(m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			cpu2, user2 := processCPU()
			b.ReportMetric(float64(cpu2-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(user2-user)/float64(b.N), "user-ns/op")
			st := s.Stats()
			b.ReportMetric(float64(st.Puts)/float64(max(st.Fsyncs, 1)), "puts/fsync")
		})
	}
}

// BenchmarkGet pulls 32 x 1 KiB messages per call from one queue (the PULL path).
func BenchmarkGet(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 20000
	for i := range n {
		if _, err := s.Put(newMsg("bench", int32(i%4), string(make([]byte, 1024)), map[string]string{message.PropTags: fmt.Sprint(i % 3)})); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var off int64
		for pb.Next() {
			r, err := s.Get("bench", 1, off, 32, 256<<10, nil)
			if err != nil || r.Status != Found {
				b.Error(r.Status, err)
				return
			}
			off = r.NextBeginOffset % (n / 4)
		}
	})
	b.ReportMetric(float64(b.N*32)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRecover measures Open over a commit log of 200k 1 KiB messages with a UNIQ_KEY each
// (restart time; the soak phase of mqbroker/bench measures the whole broker): "full" without a
// checkpoint (every record read and indexed, the fallback), "checkpoint" from the checkpoint
// Close wrote (nothing after it to scan).
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	for i := range 200_000 {
		m := newMsg("t", int32(i%4), string(body), map[string]string{message.PropUniqKey: fmt.Sprintf("%032x", i)})
		if _, err := s.Put(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, full := range []bool{true, false} {
		name := "checkpoint"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if full {
					b.StopTimer()
					if err := os.Remove(filepath.Join(dir, checkpointFileName)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				s, err := Open(Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if rs := s.RecoveryStats(); rs.FromCheckpoint == full {
					b.Fatalf("recovery %+v", rs)
				}
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPutGrowth looks for anything in the store that gets slower as it grows (segment
// rolls, consume-queue chunks, key-index files, checkpoints over more of them): b.N 1 KiB
// messages with a UNIQ_KEY each over 8 queues, 16 goroutines per core, default segment size and
// checkpoint interval. It reports the CPU per Put and the Put rate of the last tenth of the run
// over the second tenth (the first includes creating the files): cpu-last/first above 1 or
// rate-last/first below 1 (beyond the machine's noise) means Puts get dearer as the store grows.
// Run it over a few million: go test -run '^$' -bench PutGrowth -benchtime 3000000x.
func BenchmarkPutGrowth(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	window := max(int64(b.N)/10, 1)
	type mark struct {
		cpu time.Duration
		at  time.Time
	}
	var (
		n     atomic.Int64
		mu    sync.Mutex
		marks = map[int64]mark{}
	)
	body := make([]byte, 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m := newMsg("bench", int32(i%8), "", map[string]string{message.PropUniqKey: fmt.Sprintf("%032x", i)})
			m.Body = body
			if _, err := s.Put(m); err != nil {
				b.Error(err)
				return
			}
			if i%window == 0 {
				cpu, _ := processCPU()
				mu.Lock()
				marks[i/window] = mark{cpu, time.Now()}
				mu.Unlock()
			}
		}
	})
	b.StopTimer()
	first, second, last, end := marks[1], marks[2], marks[9], marks[10]
	if end.at.IsZero() || first.at.IsZero() {
		return // too few Puts to compare
	}
	b.ReportMetric(float64(end.cpu-last.cpu)/float64(second.cpu-first.cpu), "cpu-last/first")
	b.ReportMetric(float64(second.at.Sub(first.at))/float64(end.at.Sub(last.at)), "rate-last/first")
}
