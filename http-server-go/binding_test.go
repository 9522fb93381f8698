package main

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/cloudwego/hertz/pkg/app"
	hertzbinding "github.com/cloudwego/hertz/pkg/app/server/binding"
	"google.golang.org/protobuf/proto"

	"github.com/im-rs/http-server-go/kitex_gen/api"
)

// bindCase is a request as a client could send it.
type bindCase struct {
	name, uri, contentType, body string
	headers                      map[string]string
}

func bindCases(t *testing.T) []bindCase {
	pb, err := proto.Marshal(&api.PullRequest{Chat: "p:q", Cursor: 7, Limit: 3, Reverse: true})
	if err != nil {
		t.Fatal(err)
	}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("chat", "m:n")
	_ = w.WriteField("limit", "4")
	fw, _ := w.CreateFormFile("text", "t.txt")
	_, _ = fw.Write([]byte("file"))
	_ = w.Close()
	const js = "application/json"
	return []bindCase{
		{"send", "/api/send", js, `{"chat":"a:b","text":"hi <&>","sender":"a"}`, nil},
		{"pull", "/api/pull", js, `{"chat":"a:b","cursor":5,"limit":10,"reverse":true}`, nil},
		{"empty body", "/api/pull", js, ``, nil},
		{"cut JSON", "/api/pull", js, `{"chat":`, nil},
		{"wrong type", "/api/pull", js, `{"limit":"ten"}`, nil},
		{"array", "/api/send", js, `[1,2]`, nil},
		{"bad UTF-8", "/api/send", js, "{\"text\":\"\xff\xfe\"}", nil},
		{"query", "/api/pull?chat=q:q&limit=4&DoNotCompare=1", js, `{"chat":"a:b"}`, nil},
		{"marker query only", "/api/pull?NoUnkeyedLiterals=x", js, `{}`, nil},
		{"headers", "/api/pull", js, `{"chat":"a:b"}`, map[string]string{"Chat": "h:h", "Limit": "3"}},
		{"marker headers", "/api/send", js, `{"chat":"a:b"}`,
			map[string]string{"DoNotCompare": "1", "DoNotCopy": "2", "NoUnkeyedLiterals": "3"}},
		{"cookie", "/api/send", js, `{"chat":"a:b"}`, map[string]string{"Cookie": "DoNotCopy=1; chat=c:c"}},
		{"form", "/api/pull", "application/x-www-form-urlencoded", `chat=f:g&limit=2&reverse=true`, nil},
		{"multipart", "/api/pull", w.FormDataContentType(), mp.String(), nil},
		{"protobuf", "/api/pull", "application/x-protobuf", string(pb), nil},
		{"charset", "/api/send", "application/json; charset=utf-8", `{"chat":"a:b"}`, nil},
		{"spaces before ;", "/api/send", "application/json  ;x=y", `{"chat":"a:b"}`, nil},
		{"upper case type", "/api/send", "Application/JSON", `{"chat":"a:b"}`, nil},
		{"overflow", "/api/pull", js, `{"limit":99999999999}`, nil},
		{"nulls and unknowns", "/api/pull", js, `{"chat":null,"limit":2,"state":1,"x":[{}]}`, nil},
		{"duplicate keys", "/api/pull", js, `{"limit":2,"limit":3}`, nil},
		{"trailing garbage", "/api/pull", js, `{"limit":2} x`, nil},
		{"other cookie", "/api/send", js, `{"chat":"a:b"}`, map[string]string{"Cookie": "session=1"}},
		{"empty query", "/api/send?", js, `{"chat":"a:b"}`, nil},
		{"no content type", "/api/send", "", `{"chat":"a:b"}`, nil},
		{"text", "/api/send", "text/plain", `{"chat":"a:b"}`, nil},
	}
}

func (bc bindCase) context() *app.RequestContext {
	c := app.NewContext(0)
	c.Request.SetRequestURI("http://gw" + bc.uri)
	c.Request.Header.SetMethod("POST")
	if bc.contentType != "" {
		c.Request.Header.SetContentTypeBytes([]byte(bc.contentType))
	}
	for k, v := range bc.headers {
		c.Request.Header.Set(k, v)
	}
	c.Request.SetBody([]byte(bc.body))
	return c
}

// TestBindIsHertzBind: bind gives what c.Bind gives, value and error, for
// the gateway's request types.
func TestBindIsHertzBind(t *testing.T) {
	for _, bc := range bindCases(t) {
		for _, newReq := range []func() proto.Message{
			func() proto.Message { return &api.SendRequest{} },
			func() proto.Message { return &api.PullRequest{} },
		} {
			want, got := newReq(), newReq()
			c := bc.context()
			wantErr := hertzbinding.Bind(&c.Request, want, c.Params)
			gotErr := bind(bc.context(), got)
			t.Logf("%s %T: %v %q", bc.name, want, got, errText(gotErr))
			if errText(gotErr) != errText(wantErr) || !proto.Equal(got, want) {
				t.Errorf("%s, %T: bind gave %v, %q; c.Bind %v, %q", bc.name, want, got, errText(gotErr), want, errText(wantErr))
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchmarkBind compares c.Bind and bind on a pull request (go test -bench
// Bind -benchmem).
func BenchmarkBind(b *testing.B) {
	bc := bindCase{"pull", "/api/pull", "application/json", `{"chat":"a:b","cursor":5,"limit":10,"reverse":true}`,
		map[string]string{"User-Agent": "bench", "Accept": "*/*"}}
	c := bc.context()
	b.Run("hertz", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var req api.PullRequest
			if err := c.Bind(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var req api.PullRequest
			if err := bind(c, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
