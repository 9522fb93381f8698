package main

import (
	"context"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/common/utils"
	"github.com/cloudwego/kitex/client/callopt"

	"github.com/im-rs/http-server-go/kitex_gen/api"
	"github.com/im-rs/http-server-go/kitex_gen/rpc"
)

// IMClient is the part of the generated imservice.Client the handlers use;
// tests pass a fake.
type IMClient interface {
	Send(ctx context.Context, req *rpc.SendRequest, callOptions ...callopt.Option) (*rpc.SendResponse, error)
	Pull(ctx context.Context, req *rpc.PullRequest, callOptions ...callopt.Option) (*rpc.PullResponse, error)
}

// Handler serves the gateway's HTTP API on top of an IMClient.
type Handler struct {
	client IMClient
	// bind binds a request body: bind (binding.go) or templateBind.
	bind func(c *app.RequestContext, obj interface{}) error
}

func NewHandler(client IMClient) *Handler {
	return &Handler{client: client, bind: bind}
}

// templateBind is how the IM template binds (HTTP_BIND=template).
func templateBind(c *app.RequestContext, obj interface{}) error {
	return c.Bind(obj)
}

// Ping answers GET /ping with {"message":"pong"}.
func (h *Handler) Ping(ctx context.Context, c *app.RequestContext) {
	c.JSON(http.StatusOK, utils.H{"message": "pong"})
}

// Send answers POST /api/send: 200 with an empty body once the rpc-server has
// stored the message.
func (h *Handler) Send(ctx context.Context, c *app.RequestContext) {
	if err := h.send(ctx, c); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusOK)
}

func (h *Handler) send(ctx context.Context, c *app.RequestContext) error {
	var req api.SendRequest
	if err := h.bind(c, &req); err != nil {
		return bindError(err)
	}
	resp, err := h.client.Send(ctx, &rpc.SendRequest{
		Message: &rpc.Message{Chat: req.Chat, Text: req.Text, Sender: req.Sender},
	})
	if err != nil {
		return rpcError(err)
	}
	if resp.Code != 0 {
		return codeError(resp.Msg)
	}
	return nil
}

// Pull answers GET /api/pull (request in the JSON body) with the JSON of an
// api.PullResponse.
func (h *Handler) Pull(ctx context.Context, c *app.RequestContext) {
	out, err := h.pull(ctx, c)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) pull(ctx context.Context, c *app.RequestContext) (*api.PullResponse, error) {
	var req api.PullRequest
	if err := h.bind(c, &req); err != nil {
		return nil, bindError(err)
	}
	resp, err := h.client.Pull(ctx, &rpc.PullRequest{
		Chat:    req.Chat,
		Cursor:  req.Cursor,
		Limit:   req.Limit,
		Reverse: &req.Reverse,
	})
	if err != nil {
		return nil, rpcError(err)
	}
	if resp.Code != 0 {
		return nil, codeError(resp.Msg)
	}
	messages := make([]*api.Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil {
			continue
		}
		messages = append(messages, &api.Message{
			Chat:     m.Chat,
			Text:     m.Text,
			Sender:   m.Sender,
			SendTime: m.SendTime,
		})
	}
	return &api.PullResponse{
		Messages:   messages,
		HasMore:    resp.GetHasMore(),
		NextCursor: resp.GetNextCursor(),
	}, nil
}
