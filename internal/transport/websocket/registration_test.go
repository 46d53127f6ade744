package websocket

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/progress-relay/progress-relay/internal/event"
)

func TestParseRegistration(t *testing.T) {
	c := &conn{cfg: &Config{}, access: Access{Authorize: func(session, token string) error {
		if token != "good" {
			return errors.New("token refused")
		}
		return nil
	}}}
	for _, tc := range []struct {
		msg     string
		code    int
		session string
		after   uint64
		env     bool
	}{
		{`{"sessionId":"s1","token":"good"}`, 0, "s1", 0, false},
		{`{"sessionId":"s1","token":"good","after":7,"envelope":true}`, 0, "s1", 7, true},
		{`{"sessionId":"s1","token":"good","after":"7"}`, 0, "s1", 7, false},
		{`{"sessionId":12345,"token":"good"}`, 0, "12345", 0, false},
		{`{"sessionId":"s1"`, websocket.CloseInvalidFramePayloadData, "", 0, false},
		{`hello`, websocket.CloseInvalidFramePayloadData, "", 0, false},
		{`{}`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":null}`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":true}`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":"../x"}`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":"s1","after":-1}`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":"s1","after":"soon"}`, websocket.ClosePolicyViolation, "", 0, false},
		{`"s1"`, websocket.ClosePolicyViolation, "", 0, false},
		{`{"sessionId":"s1","token":"bad"}`, CloseUnauthorized, "", 0, false},
		{`{"sessionId":"s1"}`, CloseUnauthorized, "", 0, false},
	} {
		reg, code, why := c.parseRegistration([]byte(tc.msg))
		if code != tc.code {
			t.Errorf("%s: code %d (%s), want %d", tc.msg, code, why, tc.code)
			continue
		}
		if code != 0 && why == "" {
			t.Errorf("%s: refused without a reason", tc.msg)
		}
		if code == 0 && (reg.session != tc.session || reg.after != tc.after || reg.envelope != tc.env) {
			t.Errorf("%s: got %+v", tc.msg, reg)
		}
	}
}

func TestHandshakeTokenServesMessagesWithoutOne(t *testing.T) {
	c := &conn{cfg: &Config{}, access: Access{HandshakeToken: "good", Authorize: func(_, token string) error {
		if token != "good" {
			return errors.New("no")
		}
		return nil
	}}}
	if _, code, why := c.parseRegistration([]byte(`{"sessionId":"s1"}`)); code != 0 {
		t.Fatalf("refused: %d %s", code, why)
	}
}

func TestCloseReasonIsClippedOnARuneBoundary(t *testing.T) {
	s := "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé" // 2 bytes each
	got := clip(s, maxCloseReason)
	if len(got) > maxCloseReason || !json.Valid([]byte(`"`+got+`"`)) {
		t.Fatalf("clip gave %d bytes, valid UTF-8: %v", len(got), json.Valid([]byte(`"`+got+`"`)))
	}
}

// FuzzRegistration checks that any client message gets a decision: a usable registration or a
// close code the protocol defines, with a reason that fits in a close frame.
func FuzzRegistration(f *testing.F) {
	for _, seed := range []string{
		`{"sessionId":"s1"}`, `{"sessionId":"s1","after":3,"envelope":true,"token":"t"}`,
		`{"sessionId":1}`, `{"sessionId":"s1","after":"2"}`, `{"sessionId":""}`, `[]`, `null`,
		`{"sessionId":"a","sessionId":"b"}`, `{"sessionId":"s1","after":1e3}`, "\xff", `{"sessionId":"..\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	c := &conn{cfg: &Config{}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		reg, code, why := c.parseRegistration(msg)
		switch code {
		case 0:
			if err := event.ValidSession(reg.session); err != nil {
				t.Fatalf("accepted an invalid session %q: %v", reg.session, err)
			}
			if !json.Valid(msg) {
				t.Fatalf("accepted invalid JSON %q", msg)
			}
		case websocket.CloseInvalidFramePayloadData:
			if json.Valid(msg) {
				t.Fatalf("valid JSON %q refused as invalid", msg)
			}
		case websocket.ClosePolicyViolation:
			if why == "" {
				t.Fatalf("%q refused without a reason", msg)
			}
		default:
			t.Fatalf("%q: unexpected close code %d", msg, code)
		}
	})
}
