package main

import (
	"errors"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"
)

// statusError is a failed request step together with the HTTP status and the
// plain-text body the template gateway answers with.
type statusError struct {
	status int
	text   string
}

func (e *statusError) Error() string { return e.text }

// bindError: the request body could not be bound -> 400.
func bindError(err error) error {
	return &statusError{http.StatusBadRequest, "Failed to parse request body: " + err.Error()}
}

// rpcError: the RPC call itself failed (connect, timeout, exception) -> 500
// with the error text.
func rpcError(err error) error {
	return &statusError{http.StatusInternalServerError, err.Error()}
}

// codeError: the rpc-server answered with a non-zero Code -> 500 with its Msg.
func codeError(msg string) error {
	return &statusError{http.StatusInternalServerError, msg}
}

// writeError is the one place that turns a handler error into a response.
func writeError(c *app.RequestContext, err error) {
	var se *statusError
	if !errors.As(err, &se) {
		se = &statusError{http.StatusInternalServerError, err.Error()}
	}
	// "%s" keeps a '%' in the error text as it is.
	c.String(se.status, "%s", se.text)
}
