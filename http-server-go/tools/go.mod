module github.com/im-rs/http-server-go/tools

go 1.20

require (
	github.com/cloudwego/kitex v0.5.2
	github.com/cloudwego/thriftgo v0.2.9
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/cloudwego/fastpb v0.0.4 // indirect
	golang.org/x/text v0.6.0 // indirect
	golang.org/x/tools v0.1.12 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
