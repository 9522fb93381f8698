package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/bytedance/go-tagexpr/v2/binding"
	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/common/json"
	"github.com/cloudwego/hertz/pkg/protocol"

	"github.com/im-rs/http-server-go/kitex_gen/api"
)

// bind does what Hertz's c.Bind does, at less cost. Hertz binds with
// go-tagexpr's default binder (whose JSON decoder Hertz sets to its own,
// sonic), and so does bind: the same values and the same errors
// (TestBindIsHertzBind), in two steps.
//
// For the gateway's two request types, a JSON body on a request without
// query arguments or cookies is decoded directly with that decoder. For
// these types that is all the binder does too: their fields carry json tags
// and are taken from the body; the only other fields it looks for are the
// three marker fields protoc-gen-go embeds in every message (state.
// NoUnkeyedLiterals, DoNotCompare, DoNotCopy), which it seeks in the path
// (the routes have no parameters), the query, the cookies and the headers,
// and no header can match them (Hertz normalizes header names to
// "Donotcompare" and the like, the binder looks for "DoNotCompare").
//
// Any other request goes to the binder, over a view of the request that
// builds its header map once. Hertz's own view builds a fresh map of every
// header each time the binder looks for a field in the headers, once per
// marker field: those maps were about 60% of the gateway's allocated bytes.
// Measured (HTTP mixed, 32 clients, in front of the Rust server, medians of
// 8 rounds): the gateway spent 0.521 CPU s per 10k requests with c.Bind and
// 0.423 with bind (docs/performance.md, "The HTTP path").
func bind(c *app.RequestContext, obj interface{}) error {
	switch obj.(type) {
	case *api.SendRequest, *api.PullRequest:
		if body, ok := plainJSONBody(c); ok {
			if len(body) == 0 {
				return nil
			}
			return json.Unmarshal(body, obj)
		}
	}
	return binding.Default().IBind(obj, &bindView{req: &c.Request}, c.Params)
}

// plainJSONBody returns the body of a request whose body the binder reads as
// JSON (its rule: the content type before any ';', right-trimmed of spaces,
// is application/json) and that has no path parameters, query arguments or
// cookies.
func plainJSONBody(c *app.RequestContext) ([]byte, bool) {
	ct := c.Request.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = bytes.TrimRight(ct[:i], " ")
	}
	if string(ct) != "application/json" || len(c.Params) > 0 || c.Request.URI().QueryArgs().Len() > 0 {
		return nil, false
	}
	cookies := false
	c.Request.Header.VisitAllCookie(func(_, _ []byte) { cookies = true })
	if cookies {
		return nil, false
	}
	return c.Request.Body(), true
}

// bindView shows a Hertz request to go-tagexpr's binder the way Hertz's own
// view does (pkg/app/server/binding), with the header map kept.
type bindView struct {
	req    *protocol.Request
	header http.Header
}

func (v *bindView) GetMethod() string      { return string(v.req.Method()) }
func (v *bindView) GetContentType() string { return string(v.req.Header.ContentType()) }
func (v *bindView) GetBody() ([]byte, error) {
	return v.req.Body(), nil
}

func (v *bindView) GetHeader() http.Header {
	if v.header == nil {
		v.header = make(http.Header)
		v.req.Header.VisitAll(func(key, value []byte) {
			k := string(key)
			v.header[k] = append(v.header[k], string(value))
		})
	}
	return v.header
}

func (v *bindView) GetQuery() url.Values {
	values := make(url.Values)
	addArgs(values, v.req.URI().QueryArgs())
	return values
}

// GetPostForm: the form fields of the body, then the values of a multipart
// body, which replace form fields of the same name.
func (v *bindView) GetPostForm() (url.Values, error) {
	values := make(url.Values)
	addArgs(values, v.req.PostArgs())
	if form, err := v.req.MultipartForm(); err == nil {
		for k, vs := range form.Value {
			if len(vs) > 0 {
				values[k] = vs
			}
		}
	}
	return values, nil
}

func (v *bindView) GetForm() (url.Values, error) {
	values := make(url.Values)
	addArgs(values, v.req.URI().QueryArgs())
	addArgs(values, v.req.PostArgs())
	return values, nil
}

func (v *bindView) GetCookies() []*http.Cookie {
	var cookies []*http.Cookie
	v.req.Header.VisitAllCookie(func(key, value []byte) {
		cookies = append(cookies, &http.Cookie{Name: string(key), Value: string(value)})
	})
	return cookies
}

func (v *bindView) GetFileHeaders() (map[string][]*multipart.FileHeader, error) {
	files := make(map[string][]*multipart.FileHeader)
	if form, err := v.req.MultipartForm(); err == nil {
		for k, fs := range form.File {
			if len(fs) > 0 {
				files[k] = fs
			}
		}
	}
	return files, nil
}

func addArgs(values url.Values, args *protocol.Args) {
	args.VisitAll(func(key, value []byte) {
		k := string(key)
		values[k] = append(values[k], string(value))
	})
}
