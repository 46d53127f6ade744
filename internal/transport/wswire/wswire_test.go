package wswire

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

func TestAppendFrameHeaderAtEachLengthBoundary(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if got := AppendFrameHeader(nil, OpText, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("n=%d: % x, want % x", tc.n, got, tc.want)
		}
	}
	if got := AppendFrameHeader([]byte("x"), OpBinary, 1); !bytes.Equal(got, []byte{'x', 0x82, 1}) {
		t.Errorf("binary, appended: % x", got)
	}
}

func TestBatchesGoOutInOneWriteAndControlFramesWaitForThem(t *testing.T) {
	server, client := net.Pipe()
	w := &Conn{Conn: server}
	got := make(chan []byte, 4)
	go func() {
		for {
			b := make([]byte, 1<<16)
			n, err := client.Read(b)
			if err != nil {
				close(got)
				return
			}
			got <- b[:n]
		}
	}()
	bw := w.Begin(time.Second)
	control := make(chan struct{})
	go func() { w.Write([]byte("ctl")); close(control) }() // gorilla's control frame, mid-batch
	bw.Write([]byte("one"))
	bw.Write([]byte("two"))
	select {
	case <-control:
		t.Fatal("a control frame was written inside a batch")
	case <-time.After(20 * time.Millisecond):
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	if first := <-got; string(first) != "onetwo" {
		t.Fatalf("first write %q, want the whole batch", first)
	}
	<-control
	if second := <-got; string(second) != "ctl" {
		t.Fatalf("second write %q, want the control frame", second)
	}
	server.Close()
	io.Copy(io.Discard, client)
}
