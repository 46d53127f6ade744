package broker

// ring is a bounded FIFO that grows up to its limit and then overwrites its oldest element.
// It starts empty so that sessions with few events stay small.
type ring[T any] struct {
	buf  []T
	head int // index of the oldest element; non-zero only once the ring has been full
}

// push appends v, keeping at most limit elements, and returns the element it evicted, if any.
// The limit may change between calls (a config reload): the ring then shrinks or grows.
func (r *ring[T]) push(v T, limit int) (old T, evicted bool) {
	if limit <= 0 {
		return v, true
	}
	if len(r.buf) > limit || (len(r.buf) < limit && r.head != 0) {
		r.reorder(limit)
	}
	if len(r.buf) < limit {
		r.buf = append(r.buf, v)
		return old, false
	}
	old = r.buf[r.head]
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	return old, true
}

// reorder lays the newest limit elements out oldest first, from index 0.
func (r *ring[T]) reorder(limit int) {
	kept := make([]T, 0, len(r.buf))
	r.each(func(v T) { kept = append(kept, v) })
	if len(kept) > limit {
		kept = kept[len(kept)-limit:]
	}
	r.buf = kept
	r.head = 0
}

// each calls f on every element, oldest first.
func (r *ring[T]) each(f func(T)) {
	for i := range r.buf {
		f(r.buf[(r.head+i)%len(r.buf)])
	}
}
