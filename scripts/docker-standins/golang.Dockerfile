# Stand-in for golang:1.26-bookworm: this machine's Go (the build context's
# go/ is its GOROOT) in /usr/local/go, with the official image's GOPATH,
# PATH and GOTOOLCHAIN=local.
FROM docker-check/buildpack:bookworm
COPY go /usr/local/go
ENV GOTOOLCHAIN=local \
    GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
