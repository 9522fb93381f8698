package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"

	"github.com/im-rs/http-server-go/kitex_gen/rpc"
)

const (
	codeOK         = 0
	codeBadRequest = 400
	codeInternal   = 500

	defaultLimit = 10
)

// IMServiceImpl implements rpc.IMService over a MessageStore.
type IMServiceImpl struct {
	store MessageStore
}

var _ rpc.IMService = (*IMServiceImpl)(nil)

func (s *IMServiceImpl) Send(ctx context.Context, req *rpc.SendRequest) (*rpc.SendResponse, error) {
	resp := rpc.NewSendResponse()
	msg := req.GetMessage()
	if msg == nil {
		resp.Code, resp.Msg = codeBadRequest, "missing message"
		return resp, nil
	}
	if err := validateSend(msg); err != nil {
		resp.Code, resp.Msg = codeBadRequest, err.Error()
		return resp, nil
	}
	room, err := roomKey(msg.GetChat())
	if err != nil {
		resp.Code, resp.Msg = codeBadRequest, err.Error()
		return resp, nil
	}
	msg.SendTime = time.Now().UnixMicro()
	if err := s.store.Save(ctx, room, msg); err != nil {
		klog.CtxErrorf(ctx, "send to %s: %v", room, err)
		resp.Code, resp.Msg = codeInternal, fmt.Sprintf("store: %v", err)
		return resp, nil
	}
	resp.Code, resp.Msg = codeOK, "success"
	return resp, nil
}

func (s *IMServiceImpl) Pull(ctx context.Context, req *rpc.PullRequest) (*rpc.PullResponse, error) {
	resp := rpc.NewPullResponse()
	room, err := roomKey(req.GetChat())
	if err != nil {
		resp.Code, resp.Msg = codeBadRequest, err.Error()
		return resp, nil
	}
	if req.GetCursor() < 0 || req.GetLimit() < 0 {
		resp.Code, resp.Msg = codeBadRequest, "cursor and limit must not be negative"
		return resp, nil
	}
	start, stop, limit := pageBounds(req.GetCursor(), req.GetLimit())
	msgs, err := s.store.Range(ctx, room, start, stop, req.GetReverse())
	if err != nil {
		klog.CtxErrorf(ctx, "pull from %s: %v", room, err)
		resp.Code, resp.Msg = codeInternal, fmt.Sprintf("store: %v", err)
		return resp, nil
	}
	page, hasMore, next := pageResult(msgs, start, limit)
	resp.Code, resp.Msg = codeOK, "success"
	resp.Messages = page
	resp.HasMore = &hasMore
	resp.NextCursor = &next
	return resp, nil
}

// roomKey turns a chat "x:y" into its room key: both members sorted and
// joined with ':', so "b:a" and "a:b" are the same room.
func roomKey(chat string) (string, error) {
	members := strings.Split(chat, ":")
	if len(members) != 2 {
		return "", fmt.Errorf("invalid chat %q, should be in the format user1:user2", chat)
	}
	a, b := members[0], members[1]
	if a > b {
		a, b = b, a
	}
	return a + ":" + b, nil
}

// validateSend checks that the chat has two members and the sender is one
// of them.
func validateSend(msg *rpc.Message) error {
	members := strings.Split(msg.GetChat(), ":")
	if len(members) != 2 {
		return fmt.Errorf("invalid chat %q, should be in the format user1:user2", msg.GetChat())
	}
	if sender := msg.GetSender(); sender != members[0] && sender != members[1] {
		return fmt.Errorf("sender %q not in the chat room", sender)
	}
	return nil
}

// pageBounds gives the index range to fetch for a page: start = cursor and
// stop = cursor + limit (inclusive), i.e. one message more than the page, to
// learn whether there is a next page. A limit of 0 means defaultLimit.
func pageBounds(cursor int64, limit int32) (start, stop int64, pageSize int32) {
	if limit == 0 {
		limit = defaultLimit
	}
	return cursor, cursor + int64(limit), limit
}

// pageResult cuts the fetched messages to the page: when there is one more
// than limit, HasMore is set and the next cursor is start + limit.
func pageResult(msgs []*rpc.Message, start int64, limit int32) (page []*rpc.Message, hasMore bool, next int64) {
	if int64(len(msgs)) > int64(limit) {
		return msgs[:limit], true, start + int64(limit)
	}
	return msgs, false, 0
}
