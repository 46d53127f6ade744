package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// HTTPConn is one keep-alive HTTP/1.1 connection. It is not safe for concurrent use.
type HTTPConn struct {
	conn net.Conn
	host string
	br   *bufio.Reader
	req  []byte // reused request buffer
	body []byte // reused response body buffer
	// closeAfter is set when the server said Connection: close.
	closeAfter bool
}

// DialHTTP opens a connection for HTTP requests to d's server.
func DialHTTP(ctx context.Context, d *Dialer) (*HTTPConn, error) {
	c, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &HTTPConn{conn: c, host: d.Addr, br: bufio.NewReaderSize(c, 4096)}, nil
}

// Close closes the connection.
func (h *HTTPConn) Close() error { return h.conn.Close() }

// Conn is the underlying connection, for deadlines.
func (h *HTTPConn) Conn() net.Conn { return h.conn }

// Header is one request header.
type Header struct{ Name, Value string }

// Response is the part of an HTTP response the load tool reads.
type Response struct {
	Status  int
	Chunked bool
	Length  int64 // -1 when unknown
	Close   bool  // Connection: close
}

// WriteRequest sends a request; body may be nil.
func (h *HTTPConn) WriteRequest(method, target string, headers []Header, body []byte) error {
	b := h.req[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, h.host...)
	b = append(b, "\r\n"...)
	for _, hd := range headers {
		b = append(b, hd.Name...)
		b = append(b, ": "...)
		b = append(b, hd.Value...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	h.req = b
	// Two writes rather than a copy: the kernel coalesces them on loopback.
	if _, err := h.conn.Write(b); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	if len(body) > 0 {
		if _, err := h.conn.Write(body); err != nil {
			return fmt.Errorf("write body: %w", err)
		}
	}
	return nil
}

// ReadHeader reads a response's status line and headers.
func (h *HTTPConn) ReadHeader() (Response, error) {
	return readResponseHeader(h.br)
}

// Do sends a request and reads the whole response body, which stays valid until the next call.
func (h *HTTPConn) Do(method, target string, headers []Header, body []byte) (int, []byte, error) {
	if h.closeAfter {
		return 0, nil, errors.New("server closed the connection")
	}
	if err := h.WriteRequest(method, target, headers, body); err != nil {
		return 0, nil, err
	}
	resp, err := h.ReadHeader()
	if err != nil {
		return 0, nil, err
	}
	h.closeAfter = resp.Close
	h.body, err = readBody(h.br, resp, h.body[:0])
	return resp.Status, h.body, err
}

// Body returns a reader of the response body that follows resp's header (chunked or not).
func (h *HTTPConn) Body(resp Response) io.Reader {
	if resp.Chunked {
		return &chunkedReader{br: h.br}
	}
	if resp.Length >= 0 {
		return io.LimitReader(h.br, resp.Length)
	}
	return h.br
}

func readBody(br *bufio.Reader, resp Response, dst []byte) ([]byte, error) {
	switch {
	case resp.Chunked:
		cr := chunkedReader{br: br}
		for {
			if len(dst) == cap(dst) {
				dst = append(dst, 0)[:len(dst)]
			}
			n, err := cr.Read(dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
			if err == io.EOF {
				return dst, nil
			}
			if err != nil {
				return dst, err
			}
		}
	case resp.Length >= 0:
		if int64(cap(dst)) < resp.Length {
			dst = make([]byte, 0, resp.Length)
		}
		dst = dst[:resp.Length]
		_, err := io.ReadFull(br, dst)
		return dst, err
	}
	return dst, errors.New("response without length on a keep-alive connection")
}

func readResponseHeader(br *bufio.Reader) (Response, error) {
	resp := Response{Length: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return resp, fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return resp, fmt.Errorf("bad status line %q", line)
	}
	resp.Status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return resp, fmt.Errorf("bad status line %q", line)
	}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return resp, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return resp, nil
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			resp.Length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil {
				return resp, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			resp.Chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			resp.Close = bytes.EqualFold(value, []byte("close"))
		}
	}
}

// chunkedReader decodes a chunked body.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("chunk size: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("chunk size %q: %w", line, err)
		}
		if size == 0 {
			// Trailers end with an empty line.
			for {
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					return 0, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					break
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = size
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if _, err := c.br.Discard(2); err != nil { // CRLF after the chunk
			return n, err
		}
	}
	return n, err
}
