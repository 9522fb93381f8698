//go:build tools

// Package tools pins the code generators used by `make gen`. It lives in its
// own module so the generators' dependencies stay out of the gateway's go.mod.
package tools

import (
	_ "github.com/cloudwego/kitex/tool/cmd/kitex"
	_ "github.com/cloudwego/thriftgo"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
