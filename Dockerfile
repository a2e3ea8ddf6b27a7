# Wisp agent image: `wisp` is the entrypoint, so the container command is a
# wisp subcommand and its flags, e.g. `agent --bucket-url s3://…` (see
# docker-compose.yml for a 3-agent cluster on MinIO).

FROM golang:1.26 AS build
# The image pins GOTOOLCHAIN=local; go.mod may ask for a newer 1.26 patch
# release than a cached golang:1.26 has, which auto fetches instead of failing.
ENV GOTOOLCHAIN=auto
WORKDIR /src
# Modules first, so that editing sources does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: the runtime image's musl cannot run one linked to glibc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/wisp ./cmd/wisp

FROM alpine:3.22
# busybox wget serves the healthcheck; ca-certificates lets s3:// reach HTTPS
# endpoints such as AWS.
RUN apk add --no-cache ca-certificates \
	&& addgroup -S wisp && adduser -S -G wisp -H -h /var/lib/wisp wisp \
	&& mkdir -p /var/lib/wisp && chown wisp:wisp /var/lib/wisp
COPY --from=build /out/wisp /usr/local/bin/wisp
USER wisp
# A named volume mounted on /var/lib/wisp starts owned by the wisp user.
WORKDIR /var/lib/wisp
# Kafka, HTTP (/readyz, /metrics, agent-to-agent), gossip (TCP and UDP), Raft.
EXPOSE 9092 8080 7946 7946/udp 7947
ENTRYPOINT ["/usr/local/bin/wisp"]
CMD ["--help"]
