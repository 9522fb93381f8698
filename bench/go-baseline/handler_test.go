package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/im-rs/http-server-go/kitex_gen/rpc"
)

func TestRoomKey(t *testing.T) {
	for chat, want := range map[string]string{"a:b": "a:b", "b:a": "a:b", "bob:alice": "alice:bob", "x:x": "x:x"} {
		if got, err := roomKey(chat); err != nil || got != want {
			t.Errorf("roomKey(%q) = %q, %v; want %q", chat, got, err, want)
		}
	}
	for _, chat := range []string{"", "a", "a:b:c"} {
		if _, err := roomKey(chat); err == nil {
			t.Errorf("roomKey(%q) accepted", chat)
		}
	}
}

func TestValidateSend(t *testing.T) {
	if err := validateSend(&rpc.Message{Chat: "a:b", Sender: "b"}); err != nil {
		t.Errorf("member rejected: %v", err)
	}
	if err := validateSend(&rpc.Message{Chat: "a:b", Sender: "c"}); err == nil {
		t.Error("outsider accepted")
	}
	if err := validateSend(&rpc.Message{Chat: "ab", Sender: "ab"}); err == nil {
		t.Error("one-member chat accepted")
	}
}

func TestPageMath(t *testing.T) {
	start, stop, limit := pageBounds(20, 0)
	if start != 20 || stop != 30 || limit != 10 {
		t.Fatalf("pageBounds(20, 0) = %d, %d, %d", start, stop, limit)
	}
	msgs := make([]*rpc.Message, 11)
	page, more, next := pageResult(msgs, 20, 10)
	if len(page) != 10 || !more || next != 30 {
		t.Errorf("11 fetched: %d, %v, %d", len(page), more, next)
	}
	page, more, next = pageResult(msgs[:10], 20, 10)
	if len(page) != 10 || more || next != 0 {
		t.Errorf("10 fetched: %d, %v, %d", len(page), more, next)
	}
}

// memStore is an in-memory MessageStore, in insertion order.
type memStore map[string][]*rpc.Message

func (m memStore) Save(_ context.Context, room string, msg *rpc.Message) error {
	m[room] = append(m[room], msg)
	return nil
}

func (m memStore) Range(_ context.Context, room string, start, stop int64, reverse bool) ([]*rpc.Message, error) {
	all := m[room]
	var out []*rpc.Message
	for i := start; i <= stop && i < int64(len(all)); i++ {
		j := i
		if reverse {
			j = int64(len(all)) - 1 - i
		}
		out = append(out, all[j])
	}
	return out, nil
}

func TestSendAndPullPages(t *testing.T) {
	ctx := context.Background()
	h := &IMServiceImpl{store: memStore{}}
	for i := 0; i < 12; i++ {
		r, _ := h.Send(ctx, &rpc.SendRequest{Message: &rpc.Message{Chat: "b:a", Sender: "a", Text: fmt.Sprint(i)}})
		if r.Code != 0 {
			t.Fatalf("send: %d %s", r.Code, r.Msg)
		}
	}
	if r, _ := h.Send(ctx, &rpc.SendRequest{Message: &rpc.Message{Chat: "a:b", Sender: "c"}}); r.Code != 400 {
		t.Errorf("outsider send: code %d", r.Code)
	}
	r, _ := h.Pull(ctx, &rpc.PullRequest{Chat: "a:b", Cursor: 0, Limit: 0})
	if r.Code != 0 || len(r.Messages) != 10 || !*r.HasMore || *r.NextCursor != 10 || r.Messages[0].Text != "0" {
		t.Fatalf("first page: %+v", r)
	}
	if r.Messages[0].SendTime == 0 {
		t.Error("SendTime not set")
	}
	r, _ = h.Pull(ctx, &rpc.PullRequest{Chat: "a:b", Cursor: 10, Limit: 10})
	if len(r.Messages) != 2 || *r.HasMore {
		t.Fatalf("last page: %+v", r)
	}
	rev := true
	r, _ = h.Pull(ctx, &rpc.PullRequest{Chat: "a:b", Cursor: 0, Limit: 1, Reverse: &rev})
	if len(r.Messages) != 1 || r.Messages[0].Text != "11" || !*r.HasMore || *r.NextCursor != 1 {
		t.Fatalf("reverse page: %+v", r)
	}
	if r, _ := h.Pull(ctx, &rpc.PullRequest{Chat: "a"}); r.Code != 400 {
		t.Errorf("bad chat pull: code %d", r.Code)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"ETCD_ENDPOINTS": "h1:2379, h2:2379"}
	cfg := configFromEnv(func(k string) string { return env[k] })
	if cfg.Listen != "0.0.0.0:8888" || cfg.RedisAddr != "127.0.0.1:6379" || len(cfg.EtcdEndpoints) != 2 || cfg.EtcdEndpoints[1] != "h2:2379" {
		t.Errorf("config: %+v", cfg)
	}
	if cfg := configFromEnv(func(string) string { return "" }); cfg.EtcdEndpoints != nil {
		t.Errorf("etcd without ETCD_ENDPOINTS: %v", cfg.EtcdEndpoints)
	}
}
