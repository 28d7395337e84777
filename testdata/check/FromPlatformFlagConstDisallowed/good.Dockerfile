FROM --platform=linux/amd64 busybox AS build-amd64
FROM --platform=$BUILDPLATFORM busybox AS build
