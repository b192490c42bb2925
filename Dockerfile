# AlgoAuto: one static binary on a distroless, non-root base.
#   docker build -t algoauto .
#   docker run -p 8080:8080 algoauto
# Without ALGOAUTO_STORE (or --store) the embedded store is ./data, that is
# /data: mount a volume there to keep it.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (Pebble falls back to a Go zstd without cgo): a static binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /algoauto ./cmd/algoauto \
 && mkdir -p /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /algoauto /algoauto
COPY --from=build --chown=nonroot:nonroot /data /data
USER nonroot:nonroot
WORKDIR /
EXPOSE 8080
ENTRYPOINT ["/algoauto"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
