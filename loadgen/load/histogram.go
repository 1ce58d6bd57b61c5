package load

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// histogram counts latencies in log-linear microsecond buckets, like an HDR histogram: below
// subBuckets µs every value has its own bucket; above, every power of two is split into
// subBuckets/2 buckets, so a quantile is off by less than 2/subBuckets (1.6 %) and never by
// more than the bucket's width. The maximum is exact. It is safe for concurrent use.
type histogram struct {
	mu     sync.Mutex // guards counts, total, max
	counts []int64
	total  int64
	max    time.Duration
}

// subBuckets is the number of buckets of [0, subBuckets) µs, and twice the number per power of
// two above.
const subBuckets = 128

// subBucketBits is log2(subBuckets).
const subBucketBits = 7

func newHistogram() *histogram {
	// 64 − subBucketBits + 1 halves of subBuckets/2 buckets cover every int64 microsecond value.
	return &histogram{counts: make([]int64, subBuckets+(64-subBucketBits)*subBuckets/2)}
}

// bucketOf returns the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBucketBits // ≥ 1
	// us>>shift is in [subBuckets/2, subBuckets).
	return subBuckets + (shift-1)*subBuckets/2 + int(us>>shift) - subBuckets/2
}

// bucketTop returns the largest microsecond value of bucket i.
func bucketTop(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := (i-subBuckets)/(subBuckets/2) + 1
	sub := uint64((i-subBuckets)%(subBuckets/2) + subBuckets/2)
	return (sub+1)<<shift - 1
}

// record adds one latency; negative ones count as zero.
func (h *histogram) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := bucketOf(us)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[i]++
	h.total++
	h.max = max(h.max, d)
}

// quantile returns the latency below or at which a fraction q of the values lie (the top of
// its bucket, capped at the maximum), or 0 without values.
func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.total))) // nearest rank: the rank-th smallest, 1-based
	rank = min(max(rank, 1), h.total)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketTop(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// maximum returns the largest latency recorded.
func (h *histogram) maximum() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
}

// count returns the number of latencies recorded.
func (h *histogram) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}
