package metrics

import (
	"testing"
	"time"
)

func TestQuantilesWithinBucketPrecision(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got) > 1.02*float64(c.want) {
			t.Errorf("q%.3f = %s, want %s within +2%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 || h.Max() != 10*time.Millisecond {
		t.Errorf("count %d max %s", h.Count(), h.Max())
	}
}

func TestMergeAddsCounts(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(5 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 3 || a.Max() != 5*time.Millisecond {
		t.Fatalf("count %d max %s", a.Count(), a.Max())
	}
	if q := a.Quantile(0.5); q < 3*time.Millisecond || q > 3100*time.Microsecond {
		t.Fatalf("median %s, want about 3ms", q)
	}
}
