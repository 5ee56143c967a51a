# syntax=docker/dockerfile:1
#
# Static binaries of the responder and loadgen, each in a distroless image
# that runs as an unprivileged user.
#
#   docker build -t stock/responder .                 # the responder (last stage)
#   docker build --target loadgen -t stock/loadgen .
#   docker build --build-arg VERSION=v1.2.3 .         # what -version prints

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/responder ./cmd/loadgen

FROM gcr.io/distroless/static-debian12:nonroot AS loadgen
COPY --from=build /out/loadgen /loadgen
USER 65532:65532
ENTRYPOINT ["/loadgen"]

FROM gcr.io/distroless/static-debian12:nonroot AS responder
COPY --from=build /out/responder /responder
USER 65532:65532
# Writable by that user: the embedded etcd's ./stock-data when run without -etcd.
WORKDIR /home/nonroot
# /metrics, /healthz, /readyz; set STOCK_HTTP=0.0.0.0:9464 to reach them
# from outside the container.
EXPOSE 9464
ENTRYPOINT ["/responder"]
