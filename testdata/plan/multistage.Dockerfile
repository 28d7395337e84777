# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
ARG BASE=busybox:1.36

FROM golang:${GO_VERSION} AS deps
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

FROM golang:${GO_VERSION} AS tools
RUN go install example.com/tool@latest

FROM deps AS build
ARG VERSION=dev
COPY . .
RUN --mount=type=bind,from=tools,source=/go/bin,target=/tools \
    go build -ldflags "-X main.version=${VERSION}" -o /out/app .

FROM alpine:3.20 AS docs
RUN echo unused

FROM ${BASE}
COPY --from=build /out/app /usr/local/bin/app
COPY --from=alpine:3.20 /etc/ssl/certs /etc/ssl/certs
EXPOSE 8080/tcp
USER 65534
ENTRYPOINT ["/usr/local/bin/app"]
