# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/failover ./cmd/failover

# Run: distroless static, non-root. CA certificates and tzdata are included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/failover /usr/local/bin/failover
COPY config/ /etc/failover/examples/
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 8080 8053/udp 8053/tcp
ENTRYPOINT ["/usr/local/bin/failover"]
CMD ["run", "--config", "/etc/failover/config.yaml"]
