// Package metrics measures a benchmark run: a lock-free latency histogram and the CPU time and
// memory of a process, read from /proc.
package metrics

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of two, so a quantile is
// within about 1.6% of the true value.
const subBits = 6

const buckets = (64 - subBits + 1) << subBits

// Histogram counts durations in log-linear buckets. Record is safe for concurrent use and does
// not allocate.
type Histogram struct {
	counts [buckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded duration.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the duration below which a fraction q of the recorded ones fall (the upper
// bound of its bucket), or 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(upperBound(i)), h.Max())
		}
	}
	return h.Max()
}

// Reset forgets every recorded duration. It must not run concurrently with Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.max.Store(0)
}

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	exp := bits.Len64(v) - subBits // >= 1
	return exp<<subBits | int(v>>(exp-1)&(1<<subBits-1))
}

func upperBound(i int) uint64 {
	exp, sub := i>>subBits, uint64(i&(1<<subBits-1))
	if exp == 0 {
		return sub
	}
	return (1<<subBits|sub+1)<<(exp-1) - 1
}

// Merge adds o's counts to h. Neither may be recording meanwhile.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}
