package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/cloudwego/kitex/client/callopt"

	"github.com/im-rs/http-server-go/kitex_gen/rpc"
)

func TestMain(m *testing.M) {
	hlog.SetLevel(hlog.LevelWarn) // no route-registration noise per test
	os.Exit(m.Run())
}

// fakeClient records the last request of each method and answers with the
// configured response or error.
type fakeClient struct {
	sendReq  *rpc.SendRequest
	sendResp *rpc.SendResponse
	sendErr  error

	pullReq  *rpc.PullRequest
	pullResp *rpc.PullResponse
	pullErr  error
}

func (f *fakeClient) Send(_ context.Context, req *rpc.SendRequest, _ ...callopt.Option) (*rpc.SendResponse, error) {
	f.sendReq = req
	if f.sendErr != nil {
		return nil, f.sendErr
	}
	if f.sendResp == nil {
		return &rpc.SendResponse{Code: 0, Msg: "success"}, nil
	}
	return f.sendResp, nil
}

func (f *fakeClient) Pull(_ context.Context, req *rpc.PullRequest, _ ...callopt.Option) (*rpc.PullResponse, error) {
	f.pullReq = req
	if f.pullErr != nil {
		return nil, f.pullErr
	}
	if f.pullResp == nil {
		return &rpc.PullResponse{Code: 0, Msg: "success"}, nil
	}
	return f.pullResp, nil
}

func boolPtr(b bool) *bool  { return &b }
func i64Ptr(v int64) *int64 { return &v }

// do runs one request through the gateway's routes without a network.
func do(t *testing.T, fc *fakeClient, method, path, body string) (int, string, string) {
	t.Helper()
	h := server.New()
	registerRoutes(h, NewHandler(fc))
	var b *ut.Body
	if body != "" {
		b = &ut.Body{Body: bytes.NewBufferString(body), Len: len(body)}
	}
	w := ut.PerformRequest(h.Engine, method, path, b,
		ut.Header{Key: "Content-Type", Value: "application/json"})
	resp := w.Result()
	return resp.StatusCode(), string(resp.Body()), string(resp.Header.ContentType())
}

func TestPing(t *testing.T) {
	code, body, ctype := do(t, &fakeClient{}, http.MethodGet, "/ping", "")
	if code != http.StatusOK || body != `{"message":"pong"}` {
		t.Fatalf("got %d %q", code, body)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("content type %q", ctype)
	}
}

func TestSendSuccess(t *testing.T) {
	fc := &fakeClient{}
	code, body, _ := do(t, fc, http.MethodPost, "/api/send", `{"chat":"a:b","text":"hi","sender":"a"}`)
	if code != http.StatusOK || body != "" {
		t.Fatalf("got %d %q, want 200 with an empty body", code, body)
	}
	m := fc.sendReq.GetMessage()
	if m == nil || m.Chat != "a:b" || m.Text != "hi" || m.Sender != "a" || m.SendTime != 0 {
		t.Fatalf("rpc request %+v", fc.sendReq)
	}
}

func TestSendBindError(t *testing.T) {
	fc := &fakeClient{}
	code, body, _ := do(t, fc, http.MethodPost, "/api/send", `{"chat":`)
	if code != http.StatusBadRequest || !strings.HasPrefix(body, "Failed to parse request body: ") {
		t.Fatalf("got %d %q", code, body)
	}
	t.Logf("bind error answer: %s", body)
	if fc.sendReq != nil {
		t.Fatal("rpc called after a bind error")
	}
}

func TestSendRPCError(t *testing.T) {
	fc := &fakeClient{sendErr: errors.New("remote or network error: 100% down")}
	code, body, _ := do(t, fc, http.MethodPost, "/api/send", `{"chat":"a:b","text":"hi","sender":"a"}`)
	if code != http.StatusInternalServerError || body != "remote or network error: 100% down" {
		t.Fatalf("got %d %q", code, body)
	}
}

func TestSendNonZeroCode(t *testing.T) {
	fc := &fakeClient{sendResp: &rpc.SendResponse{Code: 2, Msg: "invalid chat"}}
	code, body, _ := do(t, fc, http.MethodPost, "/api/send", `{"chat":"x","text":"hi","sender":"a"}`)
	if code != http.StatusInternalServerError || body != "invalid chat" {
		t.Fatalf("got %d %q", code, body)
	}
}

func TestPullSuccess(t *testing.T) {
	fc := &fakeClient{pullResp: &rpc.PullResponse{
		Code: 0,
		Msg:  "success",
		Messages: []*rpc.Message{
			{Chat: "a:b", Text: "hi", Sender: "a", SendTime: 1700000000000001},
			{Chat: "a:b", Text: "", Sender: "b", SendTime: 0},
		},
		HasMore:    boolPtr(true),
		NextCursor: i64Ptr(1700000000000002),
	}}
	// A GET with a JSON body, as the template's clients send it.
	code, body, ctype := do(t, fc, http.MethodGet, "/api/pull", `{"chat":"a:b","cursor":5,"limit":2,"reverse":true}`)
	if code != http.StatusOK {
		t.Fatalf("got %d %q", code, body)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("content type %q", ctype)
	}
	want := `{"messages":[{"chat":"a:b","text":"hi","sender":"a","send_time":1700000000000001},` +
		`{"chat":"a:b","sender":"b"}],"has_more":true,"next_cursor":1700000000000002}`
	if body != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
	var generic map[string]interface{}
	if err := json.Unmarshal([]byte(body), &generic); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}

	r := fc.pullReq
	if r == nil || r.Chat != "a:b" || r.Cursor != 5 || r.Limit != 2 {
		t.Fatalf("rpc request %+v", r)
	}
	if r.Reverse == nil || !*r.Reverse {
		t.Fatalf("Reverse = %v, want pointer to true", r.Reverse)
	}
}

func TestPullEmptyOmitsZeroValues(t *testing.T) {
	fc := &fakeClient{pullResp: &rpc.PullResponse{Code: 0, Msg: "success", HasMore: boolPtr(false), NextCursor: i64Ptr(0)}}
	code, body, _ := do(t, fc, http.MethodGet, "/api/pull", `{"chat":"a:b","limit":10}`)
	if code != http.StatusOK || body != `{}` {
		t.Fatalf("got %d %q, want 200 {}", code, body)
	}
	// reverse absent from the body: still passed, as a pointer to false.
	if r := fc.pullReq; r == nil || r.Reverse == nil || *r.Reverse || r.Cursor != 0 || r.Limit != 10 {
		t.Fatalf("rpc request %+v", r)
	}
}

func TestPullErrors(t *testing.T) {
	valid := `{"chat":"a:b","limit":10}`
	cases := []struct {
		name       string
		fc         *fakeClient
		reqBody    string
		wantStatus int
		wantBody   string // exact, or prefix when it ends with ": "
	}{
		{"bind", &fakeClient{}, `{"limit":"ten"`, http.StatusBadRequest, "Failed to parse request body: "},
		{"rpc", &fakeClient{pullErr: errors.New("rpc timeout: 1s")}, valid, http.StatusInternalServerError, "rpc timeout: 1s"},
		{"code", &fakeClient{pullResp: &rpc.PullResponse{Code: 3, Msg: "limit too large"}}, valid, http.StatusInternalServerError, "limit too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := do(t, tc.fc, http.MethodGet, "/api/pull", tc.reqBody)
			ok := body == tc.wantBody
			if strings.HasSuffix(tc.wantBody, ": ") {
				ok = strings.HasPrefix(body, tc.wantBody) && len(body) > len(tc.wantBody)
			}
			if code != tc.wantStatus || !ok {
				t.Fatalf("got %d %q, want %d %q", code, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}
